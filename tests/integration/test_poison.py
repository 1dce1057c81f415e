"""Poison records against the real broker: a record that kills the worker process ends in the DLQ.

The attempt count lives in the consumer group's committed-offset metadata, so it
survives the process dying; after ``max_attempts`` deaths the record goes to
``tryon.dlq`` and ``tryon.failed`` and the rest of the partition completes, each
request exactly once.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from fittingroom.bus import BatchConsumer, make_producer, publish
from fittingroom.chain import DLQ, FAILED
from fittingroom.v1 import events_pb2

HELPER = Path(__file__).with_name("crashing_worker.py")


def _read_all(bootstrap: str, topic: str, keys: set[str], timeout_s: float = 20.0) -> list:
    """Every record of ``topic`` whose key is one of ``keys`` (read from the start by a fresh group)."""
    import time

    found = []
    with BatchConsumer(bootstrap, f"reader-{uuid.uuid4().hex[:8]}", [topic], max_batch=500, max_wait_ms=500) as reader:
        deadline = time.monotonic() + timeout_s
        idle = 0
        while time.monotonic() < deadline and idle < 4:
            batch = reader.poll_batch()
            found += [r for r in batch if r.key and r.key.decode() in keys]
            idle = 0 if batch else idle + 1
    return found


def test_a_record_that_kills_the_worker_is_dead_lettered_after_max_attempts(kafka_bootstrap, make_topic):
    input_topic, output_topic = make_topic(1), make_topic(1)
    run = uuid.uuid4().hex[:8]
    ids = [f"{run}-{i:02d}" for i in range(20)]
    poison = ids[9]
    producer = make_producer(kafka_bootstrap, client_id=f"poison-{run}")
    for request_id in ids:
        publish(producer, input_topic, request_id, events_pb2.TryOnEvent(request_id=request_id).SerializeToString())
    producer.flush()

    exits = []
    for _ in range(10):  # restarted after each death, as Kubernetes would
        done = subprocess.run([sys.executable, str(HELPER), kafka_bootstrap, input_topic, output_topic,
                               f"g-poison-{run}", poison], capture_output=True, text=True, timeout=180)
        exits.append(done.returncode)
        if done.returncode == 0:
            break
        assert done.returncode == 3, done.stderr[-2000:]

    assert exits[-1] == 0 and exits.count(3) == 3, exits  # died max_attempts times, then went on
    completed = [r.key.decode() for r in _read_all(kafka_bootstrap, output_topic, set(ids))]
    assert sorted(completed) == sorted(set(ids) - {poison})  # every neighbour once, none twice
    dlq = _read_all(kafka_bootstrap, DLQ, {poison})
    assert len(dlq) == 1 and b"died 3 times" in dict(dlq[0].headers)["reason"]
    failed = [events_pb2.TryOnEvent.FromString(r.value) for r in _read_all(kafka_bootstrap, FAILED, {poison})]
    assert [f.attempt for f in failed] == [3]
