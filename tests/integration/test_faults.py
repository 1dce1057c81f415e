"""Faults mid-run: a stage killed with SIGKILL, object storage stopped for a while."""

from __future__ import annotations

import time
import urllib.request

import grpc
import pytest

from fittingroom.cli.client import ApiKeyInterceptor
from fittingroom.v1 import events_pb2, tryon_pb2, tryon_pb2_grpc
from fittingroom.images import SAMPLES_DIR
from fittingroom.tensors import public_request_id



@pytest.fixture(scope="module")
def client(stack):
    channel = grpc.insecure_channel(stack.gateway)
    yield tryon_pb2_grpc.TryOnServiceStub(grpc.intercept_channel(channel, ApiKeyInterceptor(stack.api_key)))
    channel.close()


def _submit(client, n: int) -> list[str]:
    person, style = (SAMPLES_DIR / "person.jpg").read_bytes(), (SAMPLES_DIR / "style.jpg").read_bytes()
    return [client.Submit(tryon_pb2.TryOnRequest(person_image=person, style_image=style), timeout=30).request_id
            for _ in range(n)]


def _finals(client, ids: list[str], timeout_s: float) -> dict[str, tryon_pb2.TryOnStatus]:
    deadline = time.monotonic() + timeout_s
    done: dict[str, tryon_pb2.TryOnStatus] = {}
    while len(done) < len(ids) and time.monotonic() < deadline:
        for request_id in ids:
            if request_id not in done:
                status = client.Get(tryon_pb2.GetRequest(request_id=request_id), timeout=5)
                if status.stage in (events_pb2.COMPLETED, events_pb2.FAILED):
                    done[request_id] = status
        time.sleep(0.5)
    return done


def _metric(stack, service: str, name: str) -> float:
    port = stack.services[service].metrics_port
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))


def test_stage_killed_mid_run_loses_nothing_and_completes_each_once(client, stack):
    ids = _submit(client, 12)
    _wait_for(lambda: any(_stage(client, i) >= events_pb2.STYLED for i in ids), 120, "a request reaching translation")
    in_flight = [i for i in ids if _stage(client, i) < events_pb2.COMPLETED]
    stack.services["translation"].kill()
    stack.restart("translation")
    assert in_flight, "every request had completed before the kill"
    finals = _finals(client, ids, timeout_s=240)
    assert len(finals) == len(ids), stack.logs()
    assert all(s.stage == events_pb2.COMPLETED for s in finals.values()), [s.error.message for s in finals.values()]
    history_lengths = {i: len(list(client.Watch(tryon_pb2.GetRequest(request_id=i), timeout=10))) for i in ids}
    assert set(history_lengths.values()) == {5}


def test_object_storage_outage_is_ridden_out_with_retries(client, stack, minio_server):
    ids = _submit(client, 6)
    _wait_for(lambda: _stage(client, ids[0]) >= events_pb2.SEGMENTED, 120, "the first request under way")
    assert _stage(client, ids[-1]) < events_pb2.COMPLETED, "every request had completed before the outage"
    minio_server.stop()
    time.sleep(4.0)  # the fault itself: shorter than the stages' retry deadline
    minio_server.start()
    finals = _finals(client, ids, timeout_s=240)
    assert len(finals) == len(ids), stack.logs()
    assert all(s.stage == events_pb2.COMPLETED for s in finals.values()), [s.error.message for s in finals.values()]


def _gauge(stack, service: str, name: str, labels: str) -> float | None:
    """One labelled sample of a service's gauge, or None before it is exported."""
    port = stack.services[service].metrics_port
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + "{") and labels in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def _stage(client, request_id: str) -> int:
    return client.Get(tryon_pb2.GetRequest(request_id=request_id), timeout=5).stage


def _wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"never observed: {what}"
        time.sleep(0.2)


def _outage_outlives_every_timeout(stack, server, dependency: str, held_s: float) -> None:
    """Stop a dependency; once a worker reports it down, hold it down ``held_s`` more, then start it."""
    server.stop()
    try:
        _wait_for(lambda: any(_gauge(stack, s, "fittingroom_dependency_up", f'dependency="{dependency}"') == 0
                              for s in ("segmentation", "style", "translation", "compositing")),
                  120, f"a worker pausing for {dependency}")
        time.sleep(held_s)  # the fault itself: longer than the 30 s retry deadline of every client
    finally:
        server.start()


@pytest.mark.parametrize("dependency", ["kafka", "storage"])
def test_a_dependency_down_for_longer_than_every_timeout_pauses_the_chain_and_loses_nothing(
        client, stack, kafka_server, minio_server, dependency):
    ids = _submit(client, 8)
    _wait_for(lambda: client.Get(tryon_pb2.GetRequest(request_id=ids[0]), timeout=5).stage >= events_pb2.SEGMENTED,
              120, "the first request under way")
    server = kafka_server if dependency == "kafka" else minio_server
    _outage_outlives_every_timeout(stack, server, dependency, held_s=40)
    finals = _finals(client, ids, timeout_s=300)
    assert len(finals) == len(ids), stack.logs()
    assert all(s.stage == events_pb2.COMPLETED for s in finals.values()), [s.error.message for s in finals.values()]
    assert all(service.process.poll() is None for service in stack.services.values()), stack.logs()
    _wait_for(lambda: all(_gauge(stack, s, "fittingroom_dependency_up", f'dependency="{dependency}"') != 0
                          for s in ("segmentation", "style", "translation", "compositing")),
              60, f"every worker reporting {dependency} back")


def test_a_stage_killed_mid_batch_publishes_each_completion_exactly_once(client, stack, kafka_bootstrap):
    from collections import Counter

    from fittingroom.bus import BatchConsumer
    from fittingroom.chain import COMPLETED

    ids = _submit(client, 10)
    _wait_for(lambda: any(client.Get(tryon_pb2.GetRequest(request_id=i), timeout=5).stage == events_pb2.COMPLETED
                          for i in ids), 240, "the first completion")
    stack.services["compositing"].kill()  # SIGKILL with the rest of the requests in flight
    stack.restart("compositing")
    finals = _finals(client, ids, timeout_s=240)
    assert len(finals) == len(ids) and all(s.stage == events_pb2.COMPLETED for s in finals.values()), stack.logs()
    seen: Counter = Counter()
    with BatchConsumer(kafka_bootstrap, f"count-{ids[0]}", [COMPLETED], max_batch=500, max_wait_ms=500) as reader:
        idle = 0
        while idle < 4:  # read the whole topic (read-committed, as every consumer here does)
            batch = reader.poll_batch()
            seen.update(public_request_id(r.key.decode()) for r in batch
                        if r.key and public_request_id(r.key.decode()) in set(ids))
            idle = 0 if batch else idle + 1
    assert seen == Counter({i: 1 for i in ids})
