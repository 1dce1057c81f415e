"""The gateway's edge against a real gateway process, Kafka and MinIO (no stage services needed).

Requests that exist but never finish are made by publishing their SUBMITTED
status straight to ``tryon.status`` (what Submit publishes) without a request on
``tryon.requests``: the gateway's view learns them, and no stage ever moves them.
Tenants other than the stack's ``local`` get keys added to the running
gateway's key file, which it re-reads on change.
"""

from __future__ import annotations

import time
import urllib.request
import uuid
from typing import Callable, Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fittingroom.apikeys import add_key, revoke_tenant
from fittingroom.bus import make_producer
from fittingroom.chain import STATUS
from fittingroom.cli.client import ApiKeyInterceptor
from fittingroom.cli.localstack import LOCAL_TENANT
from fittingroom.images import SAMPLES_DIR
from fittingroom.tensors import put_object, request_key, tenant_request_id
from fittingroom.v1 import common_pb2, events_pb2, tryon_pb2, tryon_pb2_grpc

IDLE_STREAMS = 64
HEALTH_ANSWER_S = 1.0


@pytest.fixture(scope="module")
def gateway(infra, tmp_path_factory):
    """A gateway process alone on the session's Kafka and MinIO."""
    from fittingroom.cli.localstack import start_stack

    running = start_stack(infra.env, tmp_path_factory.mktemp("gateway"), services=("gateway",))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def channel(gateway) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(gateway.gateway) as opened:
        yield opened


def _client(channel: grpc.Channel, api_key: str) -> tryon_pb2_grpc.TryOnServiceStub:
    return tryon_pb2_grpc.TryOnServiceStub(grpc.intercept_channel(channel, ApiKeyInterceptor(api_key)))


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise TimeoutError(f"not {what} after {timeout_s}s")


def _known(client: tryon_pb2_grpc.TryOnServiceStub, request_id: str) -> bool:
    try:
        client.Get(tryon_pb2.GetRequest(request_id=request_id), timeout=2)
        return True
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return False


def _pending_requests(bootstrap: str, client: tryon_pb2_grpc.TryOnServiceStub, count: int,
                      tenant: str = LOCAL_TENANT) -> list[str]:
    """``count`` ids of ``tenant``'s requests the gateway knows at SUBMITTED, which nothing will ever finish."""
    ids = [f"idle-{uuid.uuid4().hex}" for _ in range(count)]
    producer = make_producer(bootstrap, client_id="test-idle-statuses")
    for request_id in ids:
        stored = tenant_request_id(tenant, request_id)
        status = tryon_pb2.TryOnStatus(request_id=stored, stage=events_pb2.SUBMITTED)
        producer.send(STATUS, key=stored.encode(), value=status.SerializeToString())
    producer.flush()
    producer.close()
    for request_id in ids:  # one Get per id once known: the tenant's rate is not spent on polling
        _wait_for(lambda: _known(client, request_id), 30, "seen by the gateway")
    return ids


def _health_seconds(channel: grpc.Channel) -> float:
    stub = health_pb2_grpc.HealthStub(channel)
    started = time.perf_counter()
    reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    return time.perf_counter() - started


def test_health_answers_within_a_second_while_64_idle_watch_streams_are_open(gateway, channel, kafka_bootstrap):
    client = _client(channel, gateway.api_key)
    ids = _pending_requests(kafka_bootstrap, client, IDLE_STREAMS)
    streams = [client.Watch(tryon_pb2.GetRequest(request_id=i), timeout=120) for i in ids]
    try:
        # Each stream has answered its first status: all 64 are open and waiting on the gateway.
        assert all(next(stream).stage == events_pb2.SUBMITTED for stream in streams)
        slowest = max(_health_seconds(channel) for _ in range(10))
        assert slowest < HEALTH_ANSWER_S, f"health took {slowest:.2f}s with {IDLE_STREAMS} idle streams"
        assert _known(client, ids[0])  # unary calls are not starved either
    finally:
        for stream in streams:
            stream.cancel()


def test_watch_on_an_unknown_id_ends_at_once_with_not_found(gateway, channel):
    client = _client(channel, gateway.api_key)
    started = time.perf_counter()
    with pytest.raises(grpc.RpcError) as raised:
        list(client.Watch(tryon_pb2.GetRequest(request_id=f"never-{uuid.uuid4().hex}"), timeout=30))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert time.perf_counter() - started < 5.0


def _code(call: Callable[[], object]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as raised:
        result = call()
        if isinstance(result, Iterator):
            list(result)
    return raised.value.code()


def test_no_key_a_wrong_key_and_a_revoked_key_are_unauthenticated(gateway, channel):
    get = tryon_pb2.GetRequest(request_id="any")
    assert _code(lambda: tryon_pb2_grpc.TryOnServiceStub(channel).Get(get, timeout=5)) == grpc.StatusCode.UNAUTHENTICATED
    assert _code(lambda: _client(channel, "wrong").Get(get, timeout=5)) == grpc.StatusCode.UNAUTHENTICATED
    key = add_key(gateway.api_keys_file, "revoked-shop")
    assert _code(lambda: _client(channel, key).Get(get, timeout=5)) == grpc.StatusCode.NOT_FOUND  # a valid key
    revoke_tenant(gateway.api_keys_file, "revoked-shop")
    assert _code(lambda: _client(channel, key).Get(get, timeout=5)) == grpc.StatusCode.UNAUTHENTICATED
    assert _code(lambda: _client(channel, key).Watch(get, timeout=5)) == grpc.StatusCode.UNAUTHENTICATED


def test_a_tenant_cannot_see_or_fetch_another_tenants_requests_or_photos(gateway, channel, kafka_bootstrap,
                                                                         minio_config):
    shop_a, shop_b = _client(channel, add_key(gateway.api_keys_file, "shop-a")), _client(channel, gateway.api_key)
    [theirs] = _pending_requests(kafka_bootstrap, shop_b, 1)  # a request of tenant 'local'
    get = tryon_pb2.GetRequest(request_id=theirs)
    assert shop_b.Get(get, timeout=5).request_id == theirs  # the owner sees it under its own id
    assert _code(lambda: shop_a.Get(get, timeout=5)) == grpc.StatusCode.NOT_FOUND
    assert _code(lambda: shop_a.Watch(get, timeout=5)) == grpc.StatusCode.NOT_FOUND
    store = minio_config.store(minio_config.requests_bucket)
    photo = put_object(store, request_key(tenant_request_id(LOCAL_TENANT, theirs), "input", "person_image"),
                       (SAMPLES_DIR / "person.jpg").read_bytes(), "image/jpeg")
    style = (SAMPLES_DIR / "style.jpg").read_bytes()
    for ref in (photo, common_pb2.ObjectRef(key=f"requests/shop-a/../{LOCAL_TENANT}/{theirs}/input/person_image")):
        steal = tryon_pb2.TryOnRequest(person_ref=ref, style_image=style, return_image=True)
        assert _code(lambda: shop_a.TryOn(steal, timeout=10)) == grpc.StatusCode.NOT_FOUND
        assert _code(lambda: shop_a.Submit(steal, timeout=10)) == grpc.StatusCode.NOT_FOUND


def test_a_rate_limited_tenant_is_refused_with_a_retry_hint_while_another_is_served(gateway):
    limited = gateway.add_replica("gateway", "gateway-limited", FITTINGROOM_TENANT_RATE_PER_S="0.2",
                                  FITTINGROOM_TENANT_BURST="3")
    try:
        with grpc.insecure_channel(limited.address) as channel:
            busy, other = _client(channel, gateway.api_key), _client(channel, add_key(gateway.api_keys_file, "shop-c"))
            get = tryon_pb2.GetRequest(request_id="unknown")
            codes = [_code(lambda: busy.Get(get, timeout=5)) for _ in range(4)]
            assert codes[:3] == [grpc.StatusCode.NOT_FOUND] * 3 and codes[3] == grpc.StatusCode.RESOURCE_EXHAUSTED
            with pytest.raises(grpc.RpcError) as refused:
                busy.Get(get, timeout=5)
            assert int(dict(refused.value.trailing_metadata())["retry-after-ms"]) > 0
            assert _code(lambda: other.Get(get, timeout=5)) == grpc.StatusCode.NOT_FOUND  # served: its own bucket
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{limited.metrics_port}/metrics", timeout=5).read().decode()
        assert 'fittingroom_tenant_failures_total{code="overloaded",method="Get",tenant="local"}' in metrics
        assert 'fittingroom_tenant_requests_total{method="Get",tenant="shop-c"} 1.0' in metrics
    finally:
        limited.stop()
