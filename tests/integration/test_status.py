"""Durable status: a second gateway replica, a gateway killed and restarted, completions counted once."""

from __future__ import annotations

import re
import time
import urllib.request
import uuid

import grpc

from fittingroom.bus import BatchConsumer
from fittingroom.chain import REQUESTS
from fittingroom.images import SAMPLES_DIR
from fittingroom.v1 import events_pb2, tryon_pb2, tryon_pb2_grpc
from fittingroom.cli.client import ApiKeyInterceptor
from fittingroom.cli.localstack import LOCAL_TENANT, wait_serving
from fittingroom.tensors import tenant_request_id

FINAL = (events_pb2.COMPLETED, events_pb2.FAILED)
COMPLETIONS = 'fittingroom_requests_total{outcome="ok",service="gateway",transport="kafka"}'


def _completions_counted(metrics_port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    found = re.search(rf"^{re.escape(COMPLETIONS)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _stub(address: str, api_key: str) -> tuple[grpc.Channel, tryon_pb2_grpc.TryOnServiceStub]:
    channel = grpc.insecure_channel(address)
    return channel, tryon_pb2_grpc.TryOnServiceStub(grpc.intercept_channel(channel, ApiKeyInterceptor(api_key)))


def _stages(client, ids: list[str]) -> dict[str, int]:
    stages = {}
    for request_id in ids:
        try:
            stages[request_id] = client.Get(tryon_pb2.GetRequest(request_id=request_id), timeout=5).stage
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
    return stages


def _wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in {timeout_s}s")
        time.sleep(0.3)


def _published(bootstrap: str, topic: str, request_id: str) -> int:
    """How many records ``topic`` holds for ``request_id`` (read whole, read-committed)."""
    found = 0
    with BatchConsumer(bootstrap, f"count-{uuid.uuid4().hex}", [topic], max_batch=500, max_wait_ms=500) as reader:
        idle = 0
        while idle < 4:
            batch = reader.poll_batch()
            found += sum(1 for r in batch if r.key == request_id.encode())
            idle = 0 if batch else idle + 1
    return found


def test_status_is_durable_across_replicas_and_restarts_and_completions_are_counted_once(stack, kafka_bootstrap):
    first = stack.services["gateway"]
    replica = stack.add_replica("gateway", "gateway-replica")
    channel_a, client_a = _stub(first.address, stack.api_key)
    channel_b, client_b = _stub(replica.address, stack.api_key)
    try:
        counted_before = _completions_counted(first.metrics_port) + _completions_counted(replica.metrics_port)
        person, style = (SAMPLES_DIR / "person.jpg").read_bytes(), (SAMPLES_DIR / "style.jpg").read_bytes()
        ids = [client_a.Submit(tryon_pb2.TryOnRequest(person_image=person, style_image=style), timeout=30).request_id
               for _ in range(6)]
        every_completed = {i: events_pb2.COMPLETED for i in ids}
        # Submitted through one replica, followed to the end through the other.
        _wait_for(lambda: _stages(client_b, ids) == every_completed, 240, "all completed, seen by the replica")
        _wait_for(lambda: _stages(client_a, ids) == every_completed, 30, "all completed, seen by the first gateway")

        def counted() -> float:
            return _completions_counted(first.metrics_port) + _completions_counted(replica.metrics_port) - counted_before

        _wait_for(lambda: counted() >= len(ids), 30, "the completions counted")
        assert counted() == len(ids), "a completion was counted by more than one replica"

        # Submitting an existing id again (a client retrying a lost reply) reruns nothing.
        again = client_b.Submit(tryon_pb2.TryOnRequest(request_id=ids[0], person_image=person, style_image=style),
                                timeout=30)
        assert again.request_id == ids[0] and _stages(client_b, ids[:1]) == {ids[0]: events_pb2.COMPLETED}
        assert _published(kafka_bootstrap, REQUESTS, tenant_request_id(LOCAL_TENANT, ids[0])) == 1

        counted_by_first = _completions_counted(first.metrics_port)
        replica.kill()  # SIGKILL: nothing flushed, nothing handed over
        replica.start()
        wait_serving(replica.address, 120)
        # SERVING only after the view caught up with tryon.status: the history is there at once, ...
        assert _stages(client_b, ids) == every_completed
        assert [s.stage for s in client_b.Watch(tryon_pb2.GetRequest(request_id=ids[0]), timeout=10)] == [
            events_pb2.SUBMITTED, events_pb2.SEGMENTED, events_pb2.STYLED, events_pb2.TRANSLATED, events_pb2.COMPLETED]
        # ... and nothing was replayed into the counters, the restarted replica's or the other's.
        assert "status view caught up" in replica.log_path.read_text()
        assert _completions_counted(replica.metrics_port) == 0
        assert _completions_counted(first.metrics_port) == counted_by_first
    finally:
        channel_a.close()
        channel_b.close()
        replica.stop()
