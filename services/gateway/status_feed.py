"""The gateway's durable status: progress topics → ``tryon.status`` (one writer) → every replica's view.

``Submit`` publishes a request and its first status together (one transaction).
``StatusProjector`` runs in every replica under one shared consumer group, so
each progress event is handled by exactly one replica. It publishes the status
the event moves its request to on the compacted ``tryon.status`` topic, keyed
by request id, and commits the progress offsets in the same Kafka transaction;
it counts completions and failures in ``/metrics`` only after that commit, so
across replicas each request is counted once. The range assignor keeps one
request's events together: every progress topic has the same partition count
and is keyed by request id, so partition *i* of all of them goes to one member.

``StatusView`` runs in every replica with no group: it reads ``tryon.status``
from the beginning (after compaction, about one record per request) and then
follows it, so a restarted or added replica rebuilds its state without
replaying the progress history or counting anything again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Callable, Sequence

from google.protobuf.message import DecodeError
from kafka.errors import KafkaError

from fittingroom.chain import STATUS
from fittingroom.errors import BusError
from fittingroom.gateway.tracker import FINAL, StatusTracker, advances, status_of, tenant_of_request
from fittingroom.serving.errors import error_code_name
from fittingroom.serving.metrics import KAFKA_MESSAGES, REQUESTS, TENANT_FAILURES
from fittingroom.serving.worker import Heartbeat, TransactionalRelay, observe_end_to_end, parse_event
from fittingroom.v1 import events_pb2, tryon_pb2

SERVICE = "gateway"
EVENT_PATH = "events"  # the method label of per-tenant failures of requests that ran over Kafka
UNKNOWN_TENANT = "unknown"  # a request published straight to Kafka without a tenant
log = logging.getLogger(__name__)


class StatusProjector(TransactionalRelay):
    """Progress events → the statuses they move requests to, on ``tryon.status``."""

    service = SERVICE
    name = "status projector"

    def __init__(self, tracker: StatusTracker, consumer, producer, publish: Callable, transactional: bool,
                 capacity: int = 100_000, max_pause_s: float = 5.0,
                 renew_producer: Callable[[], object] | None = None) -> None:
        super().__init__(consumer, producer, publish, transactional, max_pause_s, renew_producer)
        self.tracker = tracker
        self.capacity = capacity
        # Stages this replica published: its own writes reach its view only after the commit.
        self._written: OrderedDict[str, int] = OrderedDict()

    def process(self, records: Sequence) -> None:
        """Publish the statuses a batch moves its requests to and commit the batch, then count final ones."""
        moves = self.project(records)
        finals = []

        def publish_all() -> None:
            for event, status in moves:
                self.publish(self.producer, STATUS, status.request_id, status.SerializeToString())

        self._publish_and_commit(records, publish_all, self._waiting_for_kafka)
        for event, status in moves:
            self._remember(status.request_id, status.stage)
            self.tracker.record(status)
            if status.stage in FINAL:
                finals.append(event)
        for event in finals:
            outcome = "ok" if event.stage == events_pb2.COMPLETED else error_code_name(event.error)
            REQUESTS.labels(SERVICE, "kafka", outcome).inc()
            observe_end_to_end(SERVICE, "kafka", event, outcome)
            if outcome != "ok":
                TENANT_FAILURES.labels(event.tenant or tenant_of_request(event.request_id) or UNKNOWN_TENANT,
                                       EVENT_PATH, outcome).inc()

    def project(self, records: Sequence) -> list[tuple[events_pb2.TryOnEvent, tryon_pb2.TryOnStatus]]:
        """``(event, status)`` for each record that moves its request forward, in order.

        Unparsable records are counted and skipped: the stage that consumes their
        topic dead-letters them. Redelivered, late or repeated events move nothing.
        """
        stages: dict[str, int | None] = {}
        moves = []
        for record in records:
            try:
                event = parse_event(record.value)
            except ValueError:
                KAFKA_MESSAGES.labels(SERVICE, record.topic, "unparsable").inc()
                continue
            rid = event.request_id
            if rid not in stages:
                stages[rid] = self._known_stage(rid)
            if advances(stages[rid], event.stage):
                stages[rid] = event.stage
                moves.append((event, status_of(event)))
        return moves

    def _known_stage(self, request_id: str) -> int | None:
        written = self._written.get(request_id)
        seen = self.tracker.stage(request_id)
        known = [stage for stage in (written, seen) if stage is not None]
        return max(known, key=lambda stage: (stage in FINAL, stage)) if known else None

    def _remember(self, request_id: str, stage: int) -> None:
        self._written[request_id] = stage
        self._written.move_to_end(request_id)
        while len(self._written) > self.capacity:
            self._written.popitem(last=False)


class StatusView(Heartbeat):
    """``tryon.status`` → this replica's :class:`StatusTracker`: all of it at start, then as it grows."""

    def __init__(self, tracker: StatusTracker, reader, refresh_s: float = 30.0) -> None:
        self.tracker = tracker
        self.reader = reader
        self.refresh_s = refresh_s
        self.stopping = threading.Event()
        self.records_read = 0

    def catch_up(self, timeout_s: float) -> bool:
        """Read up to the topic's end as of now; False if that took longer than ``timeout_s``."""
        started = time.monotonic()
        ends = self.reader.end_offsets()
        while not self.reader.reached(ends):
            if time.monotonic() - started > timeout_s:
                log.warning("status view still catching up; serving meanwhile",
                            extra={"records": self.records_read, "seconds": round(timeout_s, 1)})
                return False
            self._apply(self.reader.poll(timeout_ms=200))
        log.info("status view caught up",
                 extra={"records": self.records_read, "seconds": round(time.monotonic() - started, 3)})
        return True

    def run(self) -> None:
        """Follow the topic until stopped; a broker outage only delays it (the client reconnects)."""
        refreshed = time.monotonic()
        while not self.stopping.is_set():
            self.beat()
            try:
                self._apply(self.reader.poll(timeout_ms=500))
                if time.monotonic() - refreshed > self.refresh_s:
                    self.reader.refresh_partitions()
                    refreshed = time.monotonic()
            except (BusError, KafkaError) as exc:
                log.warning("status view paused: broker unreachable", extra={"error": str(exc)})
                self.stopping.wait(1.0)
        self.reader.close()

    def stop(self) -> None:
        self.stopping.set()

    def _apply(self, records: Sequence) -> None:
        for record in records:
            self.records_read += 1
            if record.value is None:
                continue
            status = tryon_pb2.TryOnStatus()
            try:
                status.ParseFromString(record.value)
            except DecodeError:
                KAFKA_MESSAGES.labels(SERVICE, record.topic, "unparsable").inc()
                continue
            self.tracker.record(status)
