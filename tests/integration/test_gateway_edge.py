"""The gateway's edge against a real gateway process, Kafka and MinIO (no stage services needed).

Requests that exist but never finish are made by publishing their SUBMITTED
status straight to ``tryon.status`` (what Submit publishes) without a request on
``tryon.requests``: the gateway's view learns them, and no stage ever moves them.
"""

from __future__ import annotations

import time
import uuid
from typing import Callable, Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fittingroom.bus import make_producer
from fittingroom.chain import STATUS
from fittingroom.v1 import events_pb2, tryon_pb2, tryon_pb2_grpc

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


def _pending_requests(bootstrap: str, client: tryon_pb2_grpc.TryOnServiceStub, count: int) -> list[str]:
    """``count`` request ids the gateway knows at SUBMITTED, which nothing will ever finish."""
    ids = [f"idle-{uuid.uuid4().hex}" for _ in range(count)]
    producer = make_producer(bootstrap, client_id="test-idle-statuses")
    for request_id in ids:
        status = tryon_pb2.TryOnStatus(request_id=request_id, stage=events_pb2.SUBMITTED)
        producer.send(STATUS, key=request_id.encode(), value=status.SerializeToString())
    producer.flush()
    producer.close()
    _wait_for(lambda: all(_known(client, i) for i in ids), 30, "seen by the gateway")
    return ids


def _health_seconds(channel: grpc.Channel) -> float:
    stub = health_pb2_grpc.HealthStub(channel)
    started = time.perf_counter()
    reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    return time.perf_counter() - started


def test_health_answers_within_a_second_while_64_idle_watch_streams_are_open(channel, kafka_bootstrap):
    client = tryon_pb2_grpc.TryOnServiceStub(channel)
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


def test_watch_on_an_unknown_id_ends_at_once_with_not_found(channel):
    client = tryon_pb2_grpc.TryOnServiceStub(channel)
    started = time.perf_counter()
    with pytest.raises(grpc.RpcError) as raised:
        list(client.Watch(tryon_pb2.GetRequest(request_id=f"never-{uuid.uuid4().hex}"), timeout=30))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert time.perf_counter() - started < 5.0
