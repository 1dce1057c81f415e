"""Request status as the gateway sees it, fed by the stage topics.

Every gateway replica reads every progress topic under its own consumer group,
so ``Get`` and ``Watch`` work whichever replica a client reaches. A request's
stage only moves forward and its completion is counted once, however many
times at-least-once delivery repeats an event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

from google.protobuf.timestamp_pb2 import Timestamp
from kafka.errors import KafkaError

from fittingroom.errors import BusError
from fittingroom.serving.metrics import END_TO_END_LATENCY, KAFKA_MESSAGES, REQUESTS
from fittingroom.serving.errors import error_code_name
from fittingroom.serving.worker import parse_event
from fittingroom.v1 import events_pb2, tryon_pb2

SERVICE = "gateway"
log = logging.getLogger(__name__)
FINAL = (events_pb2.COMPLETED, events_pb2.FAILED)


def status_of(event: events_pb2.TryOnEvent) -> tryon_pb2.TryOnStatus:
    updated = Timestamp()
    updated.GetCurrentTime()
    return tryon_pb2.TryOnStatus(
        request_id=event.request_id, stage=event.stage, result=event.result, style=event.style,
        error=event.error, timings=event.timings, updated=updated,
    )


class StatusTracker:
    """In-memory, bounded map of request id → latest status, with waiters."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._statuses: OrderedDict[str, tryon_pb2.TryOnStatus] = OrderedDict()
        self._history: dict[str, list[tryon_pb2.TryOnStatus]] = {}
        self._changed = threading.Condition()

    def record(self, event: events_pb2.TryOnEvent) -> bool:
        """Apply an event; False when it is stale or a repeat of a final state."""
        with self._changed:
            current = self._statuses.get(event.request_id)
            if current is not None and (current.stage in FINAL or current.stage >= event.stage):
                return False
            status = status_of(event)
            history = self._history.setdefault(event.request_id, [])
            if event.stage != events_pb2.FAILED:
                history.extend(self._skipped(current, status))
            history.append(status)
            self._statuses[event.request_id] = status
            self._statuses.move_to_end(event.request_id)
            while len(self._statuses) > self.capacity:
                old, _ = self._statuses.popitem(last=False)
                self._history.pop(old, None)
            self._changed.notify_all()
        if event.stage in FINAL:
            outcome = "ok" if event.stage == events_pb2.COMPLETED else error_code_name(event.error)
            REQUESTS.labels(SERVICE, "kafka", outcome).inc()
            if event.HasField("created"):
                age = time.time() - event.created.ToMicroseconds() / 1e6
                END_TO_END_LATENCY.labels(SERVICE, "kafka", outcome).observe(max(age, 0.0))
        return True

    @staticmethod
    def _skipped(current: tryon_pb2.TryOnStatus | None, status: tryon_pb2.TryOnStatus) -> list[tryon_pb2.TryOnStatus]:
        """Stages a later event implies but whose own event has not arrived yet.

        Progress topics are read together, so a ``styled`` event can overtake its
        ``segmented`` one; the envelope accumulates fields, so the later event
        proves the earlier stage happened and Watch still streams every stage in order.
        """
        first = (current.stage + 1) if current is not None else events_pb2.SUBMITTED
        filled = []
        for stage in range(first, status.stage):
            step = tryon_pb2.TryOnStatus()
            step.CopyFrom(status)
            step.stage = stage
            filled.append(step)
        return filled

    def get(self, request_id: str) -> tryon_pb2.TryOnStatus | None:
        with self._changed:
            return self._statuses.get(request_id)

    def history(self, request_id: str) -> list[tryon_pb2.TryOnStatus]:
        with self._changed:
            return list(self._history.get(request_id, []))

    def wait_for_change(self, request_id: str, seen: int, timeout: float) -> list[tryon_pb2.TryOnStatus]:
        """Statuses after the first ``seen``, waiting up to ``timeout`` for one."""
        with self._changed:
            self._changed.wait_for(lambda: len(self._history.get(request_id, [])) > seen, timeout=timeout)
            return list(self._history.get(request_id, []))[seen:]


class TrackerFeed:
    """Background loop: progress topics → :class:`StatusTracker`."""

    def __init__(self, tracker: StatusTracker, consumer) -> None:
        self.tracker = tracker
        self.consumer = consumer
        self.stopping = threading.Event()

    def run(self) -> None:
        """Follow the progress topics until stopped; a broker outage pauses it, a bad record is skipped."""
        while not self.stopping.is_set():
            try:
                records = self.consumer.poll_batch()
                for record in records:
                    try:
                        self.tracker.record(parse_event(record.value))
                    except ValueError:
                        KAFKA_MESSAGES.labels(SERVICE, record.topic, "unparsable").inc()
                if records:
                    self.consumer.commit(records)
            except (BusError, KafkaError) as exc:
                log.warning("status feed paused: broker unreachable", extra={"error": str(exc)})
                self.stopping.wait(1.0)
        try:
            self.consumer.close()
        except (BusError, KafkaError) as exc:
            log.warning("status feed close failed", extra={"error": str(exc)})

    def stop(self) -> None:
        self.stopping.set()
