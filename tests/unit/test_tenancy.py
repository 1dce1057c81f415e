"""Shop API keys, per-tenant quotas and tenant-namespaced ids, without a server."""

from __future__ import annotations

import pytest

from fittingroom.apikeys import ApiKeys, add_key, hash_key, parse_key_file, revoke_tenant
from fittingroom.errors import BadRequestError, OverloadedError, SettingsError, UnauthenticatedError
from fittingroom.gateway.auth import authenticator, bearer_key
from fittingroom.gateway.tracker import StatusTracker
from fittingroom.quotas import TenantQuotas
from fittingroom.settings import Settings
from fittingroom.tensors import public_request_id, request_key, tenant_request_id
from fittingroom.v1 import events_pb2, tryon_pb2


def test_keys_are_stored_hashed_and_a_revoked_key_stops_working_without_a_reload_call(tmp_path):
    path = tmp_path / "keys"
    key_a, key_b = add_key(path, "shop-a"), add_key(path, "shop-b")
    assert key_a not in path.read_text() and hash_key(key_a) in path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600
    keys = ApiKeys(path)
    assert keys.tenant_of(key_a) == "shop-a" and keys.tenant_of(key_b) == "shop-b"
    assert revoke_tenant(path, "shop-a") == 1
    with pytest.raises(UnauthenticatedError):
        keys.tenant_of(key_a)
    assert keys.tenant_of(key_b) == "shop-b"
    key_c = add_key(path, "shop-c")  # added while running: seen at the next call
    assert keys.tenant_of(key_c) == "shop-c"


@pytest.mark.parametrize("key", ["", "not-a-key"])
def test_a_missing_or_unknown_key_is_unauthenticated(tmp_path, key):
    path = tmp_path / "keys"
    add_key(path, "shop")
    with pytest.raises(UnauthenticatedError):
        ApiKeys(path).tenant_of(key)


@pytest.mark.parametrize("text", ["shop:abc", "Shop/x:" + "0" * 64, "no-colon"])
def test_a_malformed_key_file_line_is_refused(text):
    with pytest.raises(SettingsError):
        parse_key_file(text)


def test_tenant_names_must_be_safe_in_ids_and_object_keys(tmp_path):
    for bad in ("", "A", "a/b", "../x", "-x"):
        with pytest.raises(SettingsError):
            add_key(tmp_path / "keys", bad)


def test_the_bearer_key_is_read_from_the_authorization_metadata():
    assert bearer_key([("x-other", "1"), ("authorization", "Bearer abc ")]) == "abc"
    assert bearer_key([("authorization", "Basic abc")]) == ""
    assert bearer_key([]) == ""


def test_a_gateway_without_keys_refuses_to_start_unless_anonymous_is_explicit(tmp_path):
    with pytest.raises(SettingsError, match="FITTINGROOM_API_KEYS_FILE"):
        authenticator(Settings.from_env({}))
    assert authenticator(Settings.from_env({"FITTINGROOM_ALLOW_ANONYMOUS": "true"})).tenant([]) == "public"
    with pytest.raises(SettingsError, match="does not exist"):
        authenticator(Settings.from_env({"FITTINGROOM_API_KEYS_FILE": str(tmp_path / "missing")}))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_tenant_over_its_rate_is_refused_with_a_retry_hint_while_another_is_served():
    clock = Clock()
    quotas = TenantQuotas(rate_per_s=2.0, burst=2, max_in_flight=10, max_streams=10, clock=clock)
    quotas.admit("a")
    quotas.admit("a")
    with pytest.raises(OverloadedError) as refused:
        quotas.admit("a")
    assert refused.value.retry_after_ms == 500
    quotas.admit("b")  # its own bucket
    clock.now = 0.5
    quotas.admit("a")  # refilled


def test_in_flight_and_stream_caps_count_per_tenant_and_free_their_slot():
    quotas = TenantQuotas(rate_per_s=100.0, burst=100, max_in_flight=2, max_streams=1)
    with quotas.in_flight("a", pending=1):
        with pytest.raises(OverloadedError):
            with quotas.in_flight("a", pending=1):
                pass
        with quotas.in_flight("b"):
            pass
    with quotas.in_flight("a", pending=1):
        pass
    with quotas.stream("a"):
        with pytest.raises(OverloadedError):
            with quotas.stream("a"):
                pass
    with quotas.stream("a"):
        pass


def test_the_tracker_counts_each_tenants_open_requests():
    tracker = StatusTracker(capacity=3)
    tracker.record(tryon_pb2.TryOnStatus(request_id="a/1", stage=events_pb2.SUBMITTED))
    tracker.record(tryon_pb2.TryOnStatus(request_id="a/2", stage=events_pb2.SEGMENTED))
    tracker.record(tryon_pb2.TryOnStatus(request_id="b/1", stage=events_pb2.SUBMITTED))
    assert (tracker.open_count("a"), tracker.open_count("b")) == (2, 1)
    tracker.record(tryon_pb2.TryOnStatus(request_id="a/1", stage=events_pb2.COMPLETED))
    assert tracker.open_count("a") == 1
    tracker.record(tryon_pb2.TryOnStatus(request_id="c/1", stage=events_pb2.SUBMITTED))  # evicts a/2
    assert tracker.open_count("a") == 0


def test_a_tenants_request_objects_live_under_its_prefix():
    stored = tenant_request_id("shop", "r1")
    assert request_key(stored, "input", "person_image") == "requests/shop/r1/input/person_image"
    assert public_request_id(stored) == "r1" and public_request_id("plain") == "plain"
    for bad in ("a/b/c", "../x", "a/..", "/x", ""):
        with pytest.raises(BadRequestError):
            request_key(bad, "input", "x")
