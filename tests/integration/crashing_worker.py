"""A stage worker whose handler kills the process (os._exit) on one marked request.

Run by tests/integration/test_poison.py, restarted after every death as a pod
would be. It uses the product's own StageWorker, BatchConsumer and producer
against the test broker, and exits 0 once it owns the input partition and has
consumed it to the end.

    python crashing_worker.py BOOTSTRAP INPUT_TOPIC OUTPUT_TOPIC GROUP POISON_REQUEST_ID
"""

from __future__ import annotations

import os
import sys

from fittingroom.bus import BatchConsumer, make_producer, publish
from fittingroom.chain import StageSpec
from fittingroom.retry import RetryPolicy
from fittingroom.serving.worker import StageWorker
from fittingroom.v1 import events_pb2

CRASH_EXIT_CODE = 3


class CrashOnPoison:
    def __init__(self, poison: str) -> None:
        self.poison = poison

    def handle_batch(self, events):
        if any(event.request_id == self.poison for event in events):
            os._exit(CRASH_EXIT_CODE)  # what an OOM kill or a native crash looks like from outside
        done = []
        for event in events:
            out = events_pb2.TryOnEvent()
            out.CopyFrom(event)
            out.stage = events_pb2.STYLED
            done.append(out)
        return done


def main(bootstrap: str, input_topic: str, output_topic: str, group: str, poison: str) -> None:
    spec = StageSpec("style", 0, input_topic, output_topic)
    # The broker's shortest session: a restarted member waits for the dead one's to expire.
    consumer = BatchConsumer(bootstrap, group, [input_topic], max_batch=8, max_wait_ms=300,
                             session_timeout_ms=6000, heartbeat_interval_ms=2000)
    worker = StageWorker(spec, CrashOnPoison(poison), consumer, make_producer(bootstrap, client_id=group),
                         publish, RetryPolicy(deadline_s=1.0), max_attempts=3)
    while not _caught_up(consumer.consumer):
        records = consumer.poll_batch()
        if records:
            worker.process(records)
    consumer.close()


def _caught_up(kafka_consumer) -> bool:
    """Assigned (after the dead member's session has expired) and at the end of every partition."""
    assigned = kafka_consumer.assignment()
    if not assigned:
        return False
    ends = kafka_consumer.end_offsets(list(assigned))
    return all(kafka_consumer.position(tp) >= ends[tp] for tp in assigned)


if __name__ == "__main__":
    main(*sys.argv[1:6])
