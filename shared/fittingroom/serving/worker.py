"""The Kafka side of a stage service: consume a batch, run the stage, publish, commit.

Delivery is at-least-once: offsets are committed only after every output event
of the batch (next topic, ``tryon.failed`` or ``tryon.dlq``) has been
acknowledged by the broker. Stages are idempotent (object keys derive from the
request id), so a re-delivered message overwrites the same objects. A message
that cannot be parsed (garbage, a null tombstone) or that crashes the stage's
handler on its own goes to ``tryon.dlq`` with its raw bytes and the reason in
headers; a request that fails permanently goes to ``tryon.failed``; neither
stops the worker, and its neighbours go on.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Sequence

from google.protobuf.message import DecodeError
from kafka.errors import KafkaError

from fittingroom.chain import COMPLETED, DLQ, FAILED, StageSpec
from fittingroom.errors import BusError, DependencyDown, FittingroomError, HandlerCrash, TransientError
from fittingroom.retry import RetryPolicy
from fittingroom.serving.errors import error_code_name, error_message
from fittingroom.serving.metrics import (
    BATCH_SIZE,
    DEPENDENCY_UP,
    END_TO_END_LATENCY,
    INFLIGHT,
    KAFKA_MESSAGES,
    REQUESTS,
    STAGE_LATENCY,
    record_consumer_lag,
)
from fittingroom.serving.stage_base import BatchHandler
from fittingroom.v1 import events_pb2

log = logging.getLogger(__name__)

def parse_event(raw: bytes | None) -> events_pb2.TryOnEvent:
    """Decode an envelope; raises ValueError for anything that is not a usable event."""
    if raw is None:
        raise ValueError("null value (a tombstone), not a TryOnEvent")
    event = events_pb2.TryOnEvent()
    try:
        event.ParseFromString(raw)
    except DecodeError as exc:
        raise ValueError(f"not a TryOnEvent: {exc}") from None
    if not event.request_id:
        raise ValueError("TryOnEvent without request_id")
    return event


def observe_end_to_end(service: str, path: str, event: events_pb2.TryOnEvent, outcome: str) -> None:
    """Record time from the request's creation to now (completion or failure)."""
    if event.HasField("created"):
        age = time.time() - event.created.ToMicroseconds() / 1e6
        END_TO_END_LATENCY.labels(service, path, outcome).observe(max(age, 0.0))


ABORT_TIMEOUT_S = 30.0


def publish_and_commit(consumer, producer, records: Sequence, publish_all: Callable[[], None], transactional: bool,
                       on_waiting: Callable[[], None] | None = None, suspects_until: int | None = None) -> None:
    """Publish a batch's outputs (``publish_all``), then commit its input offsets: in one Kafka transaction
    when ``transactional``.

    Without transactions a death between the two redelivers the batch and its
    outputs appear twice; with them, read-committed consumers see them once.
    ``on_waiting`` is called while the transaction waits on an unreachable broker.
    A failed publish aborts the transaction, waiting at most ``ABORT_TIMEOUT_S``;
    either way the error is raised and the caller replaces the producer (a new
    one with the same transactional id aborts whatever the old one left open).
    """
    if not transactional:
        publish_all()
        producer.flush()
        consumer.commit(records, suspects_until)
        return
    producer.begin_transaction()
    try:
        publish_all()
    except BaseException:
        try:
            consumer.abort_in_transaction(producer, on_waiting, ABORT_TIMEOUT_S)
        except Exception as abort_error:  # noqa: BLE001 - the original error is what matters
            log.warning("abort of the batch's transaction failed", extra={"error": str(abort_error)})
        raise
    consumer.commit_in_transaction(producer, records, suspects_until, on_waiting)


def renewed(producer, renew: Callable[[], object] | None, force: bool = False):
    """``producer``, or a new one from ``renew`` when it is broken (see :func:`fittingroom.bus.producer_broken`)
    or ``force`` (a transaction of it failed: its state is not to be trusted).

    A new producer with the same transactional id fences the old one and aborts
    what it left open. If the broker is still away, the old one is kept and
    this is tried again at the next pause.
    """
    from fittingroom.bus import producer_broken

    if renew is None or not (force or producer_broken(producer)):
        return producer
    try:
        fresh = renew()
    except (BusError, KafkaError) as exc:
        log.warning("replacing the producer failed; trying again later", extra={"error": str(exc)})
        return producer
    log.warning("transactional producer replaced after a failed transaction")
    try:
        producer.close(timeout=1)
    except Exception as exc:  # noqa: BLE001 - the old producer is dropped either way
        log.warning("closing the old producer failed", extra={"error": str(exc)})
    return fresh


def rewind_batch(consumer, records: Sequence) -> None:
    """Put a batch back for the next poll; if that fails, the group redelivers it anyway."""
    if not records:
        return
    try:
        consumer.rewind(records)
    except (BusError, KafkaError) as exc:
        log.warning("rewind failed; the group will redeliver", extra={"error": str(exc)})


class Heartbeat:
    """A background loop's last turn (monotonic seconds), for the runner's watchdog to see it is not stuck.

    A loop beats once per turn and while it deliberately waits (a transaction waiting
    out a broker outage, which it reports as the dependency being down).
    """

    last_beat: float | None = None

    def beat(self) -> None:
        self.last_beat = time.monotonic()


class TransactionalOutput:
    """What a consumer loop that publishes in transactions shares: publish-and-commit, and replacing
    the producer at the next pause once one of its transactions failed (or it broke).

    Holds the loop's ``consumer``, ``producer`` (with ``publish``, how to send on it),
    whether it publishes in transactions, how to make a new producer, the longest
    pause after a bus error, and the event that stops the loop.
    """

    _transaction_failed: bool = False

    def __init__(self, consumer, producer, publish: Callable, transactional: bool, max_pause_s: float = 5.0,
                 renew_producer: Callable[[], object] | None = None) -> None:
        self.consumer = consumer
        self.producer = producer
        self.publish = publish
        self.transactional = transactional
        self.max_pause_s = max_pause_s
        self.renew_producer = renew_producer
        self.stopping = threading.Event()

    def _publish_and_commit(self, records: Sequence, publish_all: Callable[[], None],
                            on_waiting: Callable[[], None] | None = None, suspects_until: int | None = None) -> None:
        try:
            publish_and_commit(self.consumer, self.producer, records, publish_all, self.transactional,
                               on_waiting, suspects_until)
        except BaseException:
            self._transaction_failed = self.transactional
            raise

    def _renew_producer(self) -> None:
        fresh = renewed(self.producer, self.renew_producer, force=self._transaction_failed)
        if fresh is not self.producer:
            self._transaction_failed = False
        self.producer = fresh


class TransactionalRelay(TransactionalOutput, Heartbeat):
    """A consumer loop that turns each polled batch into published records, committed with it.

    The loop is written once here for the stage workers and the gateway's status
    projector and ingress relay: poll a batch and :meth:`process` it (publishing and
    committing through :meth:`_publish_and_commit`). When a dependency is down (the
    broker, or object storage for a stage) it reports it down, rewinds the batch,
    replaces the producer if its transaction failed, and waits with capped
    exponential backoff; the first batch through reports it up again. Subclasses give
    ``service``, ``name`` and :meth:`process`.
    """

    service: str
    name: str
    _pauses: int = 0

    def process(self, records: Sequence) -> None:
        raise NotImplementedError

    def run(self) -> None:
        """Loop until :meth:`stop`; the batch in hand is finished (or left for redelivery) before returning."""
        log.info("%s consuming", self.name)
        while not self.stopping.is_set():
            self.beat()
            records: Sequence = []
            try:
                records = self.consumer.poll_batch()
                if records:
                    self.process(records)
                self._resumed()
            except DependencyDown as exc:
                self._pause(exc.dependency, exc, records)
            except (BusError, KafkaError) as exc:
                self._pause("kafka", exc, records)
        try:
            self.consumer.close()
        except (BusError, KafkaError) as exc:
            log.warning("%s: consumer close failed", self.name, extra={"error": str(exc)})

    def stop(self) -> None:
        self.stopping.set()

    def _pause(self, dependency: str, exc: BaseException, records: Sequence) -> None:
        """Keep the offsets, put the batch back, wait a little, and try again."""
        self._report_down(dependency)
        self._pauses += 1
        log.warning("%s paused: dependency down", self.name, extra={"dependency": dependency, "error": str(exc)})
        rewind_batch(self.consumer, records)
        self._renew_producer()
        self.stopping.wait(min(self.max_pause_s, 0.2 * 2 ** min(self._pauses, 5)))

    def _report_down(self, dependency: str) -> None:
        DEPENDENCY_UP.labels(self.service, dependency).set(0)

    def _resumed(self) -> None:
        """After a poll went through: the broker is back."""
        if self._pauses:
            log.info("%s resumed", self.name)
            self._pauses = 0
        DEPENDENCY_UP.labels(self.service, "kafka").set(1)

    def _waiting_for_kafka(self) -> None:
        """Called while a batch's transaction waits on an unreachable broker: visibly degraded."""
        self.beat()
        self._report_down("kafka")
        log.warning("%s waiting for the broker to settle the batch's transaction", self.name)


class StageWorker(TransactionalRelay):
    """Runs one stage's batch handler over its Kafka input topic until stopped.

    Alive or visibly dead: an unreachable broker or object store pauses
    consumption (offsets kept, the batch in hand rewound, ``fittingroom_dependency_up``
    at 0, ``on_health(False)``) until it returns; anything else escapes :meth:`run`
    for the runner to take the process down.
    """

    def __init__(self, spec: StageSpec, handler: BatchHandler, consumer, producer, publish, retry: RetryPolicy,
                 request_deadline_s: float = 600.0, on_health: Callable[[bool], None] | None = None,
                 max_pause_s: float = 5.0, max_attempts: int = 3, transactional: bool = False,
                 renew_producer: Callable[[], object] | None = None) -> None:
        super().__init__(consumer, producer, publish, transactional, max_pause_s, renew_producer)
        self.spec = spec
        self.handler = handler
        self.retry = retry
        self.request_deadline_s = request_deadline_s
        self.on_health = on_health or (lambda _up: None)
        self.max_attempts = max_attempts
        self.service = spec.name
        self.name = f"{spec.name} worker"
        self._reported_up = False
        # The attempt markers this process wrote: (topic, partition) -> (offset, attempt, alone, last).
        # Finding its own marker again (after a pause) is not a death.
        self._marked: dict[tuple[str, int], tuple[int, int, bool, int | None]] = {}

    def _report_down(self, dependency: str) -> None:
        super()._report_down(dependency)
        self.on_health(False)
        self._reported_up = False

    def _resumed(self) -> None:
        """After a poll went through: report the dependencies up (once, not on every poll)."""
        if self._pauses:
            log.info("%s resumed", self.name)
            self._pauses = 0
        if not self._reported_up:
            for dependency in ("kafka", "storage"):
                DEPENDENCY_UP.labels(self.spec.name, dependency).set(1)
            self.on_health(True)
            self._reported_up = True

    def process(self, records: Sequence) -> None:
        """Handle one polled batch end to end, then commit it.

        Before handling, the attempt is marked in the group's committed offsets.
        A batch found marked means a process died on it: its records are then
        handled one at a time, each marked, so the one that kills the process is
        found; after ``max_attempts`` it goes to the DLQ and ``tryon.failed`` while
        the rest of the partition goes on.

        Raises :class:`DependencyDown` (nothing published, nothing committed) when
        object storage stays unreachable past the retry deadline for a request
        whose own deadline has not passed.
        """
        records, attempt, suspects_until = self._isolate_suspect(records)
        if attempt > self.max_attempts:
            self._publish_and_commit(records, lambda: self._give_up(records[0], attempt - 1),
                                     self._waiting_for_kafka, suspects_until)
            return
        self.consumer.mark_attempt(records, attempt, suspects_until)
        for record in records:
            self._marked.setdefault((record.topic, record.partition),
                                    (record.offset, attempt, suspects_until is not None, suspects_until))
        BATCH_SIZE.labels(self.spec.name).observe(len(records))
        events, valid, unreadable = [], [], []
        for record in records:
            try:
                event = parse_event(record.value)
            except ValueError as exc:
                unreadable.append((record, str(exc)))
                continue
            event.attempt = attempt
            events.append(event)
            valid.append(record)
        results: list = []
        if events:
            start = time.perf_counter()
            INFLIGHT.labels(self.spec.name, "kafka").inc(len(events))
            try:
                results = self._handle_with_retry(events)
            finally:
                INFLIGHT.labels(self.spec.name, "kafka").dec(len(events))
            STAGE_LATENCY.labels(self.spec.name, "kafka").observe((time.perf_counter() - start) / len(events))
            waiting = [r for e, r in zip(events, results) if isinstance(r, TransientError) and not self._expired(e)]
            if waiting:
                if self.stopping.is_set():
                    log.warning("stopping with transient failures; batch left uncommitted for redelivery")
                    return
                raise DependencyDown("storage", waiting[0])

        def publish_all() -> None:
            for record, reason in unreadable:
                self._dead_letter(record, reason)
            for record, event, result in zip(valid, events, results):
                if isinstance(result, HandlerCrash):
                    self._dead_letter(record, str(result))
                self._emit(event, result)

        self._publish_and_commit(records, publish_all, self._waiting_for_kafka, suspects_until)
        record_consumer_lag(self.spec.name, self.consumer.consumer)

    def _isolate_suspect(self, records: Sequence) -> tuple[Sequence, int, int | None]:
        """``(records, attempt, last suspect offset)``: the batch as attempt 1 when nothing is suspect,
        else one suspect record alone.

        A marker this process wrote itself (it paused while a dependency was down)
        is not a death: the same attempt runs again, in the same mode.
        """
        marks = self.consumer.attempts_before(records)
        firsts: dict[tuple[str, int], object] = {}
        for record in records:
            key = (record.topic, record.partition)
            if key not in firsts or record.offset < firsts[key].offset:
                firsts[key] = record
        own, self._marked = self._marked, {}
        chosen = None
        for tp, mark in marks.items():
            if mark is None or chosen is not None:
                continue
            started, last = mark
            first = firsts[(tp.topic, tp.partition)]
            mine = own.get((tp.topic, tp.partition))
            if mine is not None and mine[:2] == (first.offset, started):
                if mine[2]:
                    chosen = (first, started, last)
                continue
            if started:
                log.warning("a process died handling this record; trying it alone",
                            extra={"offset": first.offset, "attempt": started + 1})
            chosen = (first, started + 1, last)
        if chosen is None:
            return records, 1, None
        first, attempt, last = chosen
        rest = [r for r in records if r is not first]
        if rest:
            self.consumer.rewind(rest)
        return [first], attempt, last

    def _give_up(self, record, attempts: int) -> None:
        """A record that took the process down ``attempts`` times: to the DLQ and ``tryon.failed``."""
        reason = f"the worker died {attempts} times handling it"
        self._dead_letter(record, reason)
        try:
            event = parse_event(record.value)
        except ValueError:
            event = None
        if event is not None:
            event.attempt = attempts
            self._emit(event, HandlerCrash(reason))

    def _expired(self, event: events_pb2.TryOnEvent) -> bool:
        """Whether the request is older than its deadline (then a transient failure fails it)."""
        if not event.HasField("created"):
            return False
        return time.time() - event.created.ToMicroseconds() / 1e6 > self.request_deadline_s

    def _handle_with_retry(self, events: list[events_pb2.TryOnEvent]) -> list:
        """Run the stage; events failing transiently are retried with backoff until the retry deadline."""
        results: list = [None] * len(events)
        pending = list(range(len(events)))
        deadline = time.monotonic() + self.retry.deadline_s
        delays = self.retry.delays()
        attempt = 0
        while pending:
            attempt += 1
            for index, result in zip(pending, self._safe_handle([events[i] for i in pending])):
                results[index] = result
            pending = [i for i in pending if isinstance(results[i], TransientError)]
            remaining = deadline - time.monotonic()
            if not pending or remaining <= 0 or self.stopping.is_set():
                break
            KAFKA_MESSAGES.labels(self.spec.name, self.spec.input_topic, "retried").inc(len(pending))
            log.warning("transient failure, retrying", extra={"attempt": attempt, "requests": len(pending)})
            time.sleep(min(next(delays), remaining))
        return results

    def _safe_handle(self, batch: list[events_pb2.TryOnEvent]) -> list:
        """The handler's outcomes; when it crashes on the batch, each event is run alone to find the poison.

        An untyped exception in an event's outcome (a bug or a malformed input the
        stage's maths tripped on, not a :class:`FittingroomError`) is a crash too:
        that event goes to the DLQ as well as ``tryon.failed``.
        """
        return [self._crash_if_untyped(event, result) for event, result in zip(batch, self._handle(batch))]

    @staticmethod
    def _crash_if_untyped(event: events_pb2.TryOnEvent, result):
        if not isinstance(result, Exception) or isinstance(result, FittingroomError):
            return result
        log.error("stage crashed on an event", extra={"request_id": event.request_id, "error": repr(result)})
        return HandlerCrash(f"handler crashed: {type(result).__name__}: {result}")

    def _handle(self, batch: list[events_pb2.TryOnEvent]) -> list:
        try:
            return self.handler.handle_batch(batch)
        except TransientError as exc:
            return [exc] * len(batch)
        except Exception as exc:  # noqa: BLE001 - one bad event must not kill the worker
            if len(batch) == 1:
                log.exception("stage crashed on an event", extra={"request_id": batch[0].request_id})
                return [HandlerCrash(f"handler crashed: {type(exc).__name__}: {exc}")]
            log.warning("stage crashed on a batch; running its events one by one", extra={"error": repr(exc)})
            return [result for event in batch for result in self._handle([event])]

    def _emit(self, event: events_pb2.TryOnEvent, result) -> None:
        if isinstance(result, Exception):
            failed = events_pb2.TryOnEvent()
            failed.CopyFrom(event)
            failed.stage = events_pb2.FAILED
            failed.error.CopyFrom(error_message(result, self.spec.name))
            self.publish(self.producer, FAILED, event.request_id, failed.SerializeToString())
            outcome = error_code_name(failed.error)
            KAFKA_MESSAGES.labels(self.spec.name, self.spec.input_topic, "failed").inc()
            observe_end_to_end(self.spec.name, "kafka", event, outcome)
        else:
            self.publish(self.producer, self.spec.output_topic, result.request_id, result.SerializeToString())
            outcome = "ok"
            KAFKA_MESSAGES.labels(self.spec.name, self.spec.input_topic, "processed").inc()
            if self.spec.output_topic == COMPLETED:
                observe_end_to_end(self.spec.name, "kafka", result, "ok")
        REQUESTS.labels(self.spec.name, "kafka", outcome).inc()

    def _dead_letter(self, record, reason: str) -> None:
        headers = [("reason", reason.encode()), ("source-topic", record.topic.encode()),
                   ("source-partition", str(record.partition).encode()), ("source-offset", str(record.offset).encode())]
        key = record.key.decode(errors="replace") if record.key else ""
        self.publish(self.producer, DLQ, key, record.value or b"", headers)
        KAFKA_MESSAGES.labels(self.spec.name, self.spec.input_topic, "dlq").inc()
        log.warning("message sent to DLQ", extra={"reason": reason, "offset": record.offset})
