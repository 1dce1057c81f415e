"""The per-service MinIO access table (fittingroom.s3access): its policies and how services get their keys.

That the policies hold against a real MinIO is tests/integration/test_s3_access.py.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fittingroom import provision
from fittingroom.chain import SERVICES
from fittingroom.errors import MissingCredentialsError
from fittingroom.s3access import (ACCESS, ADMIN_VARS, MODELS, credential_vars, new_credentials, policy_document,
                                  service_env)

NAMES = tuple(s.name for s in SERVICES)


def _actions(document: dict, bucket: str) -> set[str]:
    return {action for statement in document["Statement"] for action in statement["Action"]
            if any(r.startswith(f"arn:aws:s3:::{bucket}") for r in statement["Resource"])}


def test_every_service_has_a_policy_and_nobody_deletes():
    assert set(ACCESS) == set(NAMES)
    for service in NAMES:
        document = policy_document(service, "req", "mod")
        assert {s["Effect"] for s in document["Statement"]} == {"Allow"}
        every = _actions(document, "req") | _actions(document, "mod")
        assert every <= {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}, service
        assert "*" not in {r for s in document["Statement"] for r in s["Resource"]}


def test_only_model_services_read_the_registry_and_none_writes_it():
    readers = {s for s in NAMES if any(g.bucket == MODELS for g in ACCESS[s])}
    assert readers == {"segmentation", "style", "translation"}
    for service in NAMES:
        assert "s3:PutObject" not in _actions(policy_document(service, "req", "mod"), "mod")


def test_each_stage_writes_only_under_its_own_folder():
    for service in ("segmentation", "style", "translation", "compositing"):
        [put] = [s for s in policy_document(service, "req", "mod")["Statement"] if s["Action"] == ["s3:PutObject"]]
        requests = [r for r in put["Resource"] if r.startswith("arn:aws:s3:::req/requests/")]
        assert requests == [f"arn:aws:s3:::req/requests/*/{service}/*"]


def test_a_service_is_started_with_its_own_pair_and_no_other():
    pairs = new_credentials()
    env = {**pairs, ADMIN_VARS[0]: "admin", ADMIN_VARS[1]: "admin-secret", "FITTINGROOM_S3_ENDPOINT": "m:9000"}
    started = service_env(env, "style")
    access, secret = credential_vars("style")
    assert (started[ADMIN_VARS[0]], started[ADMIN_VARS[1]]) == (pairs[access], pairs[secret])
    assert started["FITTINGROOM_S3_ENDPOINT"] == "m:9000"
    assert not set(pairs) & set(started), "no service's pair travels under its own name"


def test_a_service_without_its_pair_is_refused_by_name():
    with pytest.raises(MissingCredentialsError, match="FITTINGROOM_S3_SECRET_KEY_GATEWAY"):
        service_env({"FITTINGROOM_S3_ACCESS_KEY_GATEWAY": "gw"}, "gateway")


def test_new_credentials_differ_per_service_and_per_draw():
    first, second = new_credentials(), new_credentials()
    assert len(set(first.values())) == 2 * len(NAMES)
    assert not set(first.values()) & set(second.values())
    assert all(len(first[credential_vars(s)[1]]) == 40 for s in NAMES)


def test_provisioning_checks_every_pair_before_contacting_anything(monkeypatch):
    monkeypatch.setenv("FITTINGROOM_S3_ACCESS_KEY", "admin")
    monkeypatch.setenv("FITTINGROOM_S3_SECRET_KEY", "admin-secret")
    for service in NAMES:
        for name in credential_vars(service):
            monkeypatch.delenv(name, raising=False)
    connected = []
    monkeypatch.setattr(provision, "connect_admin", lambda *args: connected.append(args))
    result = CliRunner().invoke(provision.app, ["--s3-endpoint", "127.0.0.1:9"])
    assert result.exit_code != 0
    assert "FITTINGROOM_S3_ACCESS_KEY_GATEWAY" in result.output
    assert connected == []
