"""The Kafka bus: an acknowledged publish and a batching, manually committing consumer.

Delivery is at-least-once (docs/design.md §3): a worker publishes its output event, waits
for the broker's acknowledgement (acks=all), and only then commits the input
offsets it has processed. A worker killed in between re-delivers the batch to its
successor; consumers downstream deduplicate by request id. Messages are small
protobuf bytes; the partition key is the request id.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError, UnknownTopicOrPartitionError
from kafka.producer.future import RecordMetadata
from kafka.structs import OffsetAndMetadata, TopicPartition

from fittingroom.consumer_progress import STALL_CHECK_S, ProgressWatch
from fittingroom.errors import BusError, BusUnavailableError, RetryError
from fittingroom.kafka_auth import KafkaSecurity
from fittingroom.retry import NO_RETRY, RetryPolicy, retry_call
from fittingroom.settings import Settings

log = logging.getLogger(__name__)
# Committed-offset metadata that marks an attempt in progress at that offset.
ATTEMPT_MARK = "fittingroom-attempt:"
TRANSACTION_TIMEOUT_MS = 15_000
SESSION_TIMEOUT_MS = 10_000
# How often a pattern-subscribed consumer lists the topics again (new ones are read from their start).
PATTERN_REFRESH_S = 10.0
# A consumer's retry backoff, which kafka-python also sleeps whenever a poll finds nothing to wait on.
# That happens after a fetch that held only a transaction's commit marker, which a read-committed
# consumer gets after every transaction's records: at the client's 100 ms default about one delivery
# in four stalled that long (README "Hop latency"). Retries of lost coordinators or metadata are still
# paced by the reconnect backoff (up to 2 s) while the broker is away.
CONSUMER_RETRY_BACKOFF_MS = 10
T = TypeVar("T")

Headers = Mapping[str, bytes | str] | Sequence[tuple[str, bytes | str]]

__all__ = [
    "AtomicPublisher", "BatchConsumer", "ConsumerRecord", "RecordMetadata", "TopicReader",
    "client_config", "is_transient", "make_producer", "publish",
]


def client_config(bootstrap: str, client_id: str, security: KafkaSecurity | None = None) -> dict[str, object]:
    """The keywords every Kafka client of the product starts from: where, who, and how it authenticates.

    ``security`` ``None``: the process's own ``FITTINGROOM_KAFKA_*`` settings (what
    tools and tests run with); services pass the security of their settings.
    """
    if security is None:
        security = Settings.from_env().kafka_security()
    return {"bootstrap_servers": bootstrap, "client_id": client_id, **security.client_config()}


def is_transient(err: BaseException) -> bool:
    """True for Kafka errors the broker marks retriable, and connection trouble."""
    if isinstance(err, KafkaError):
        return bool(err.retriable)
    return isinstance(err, (ConnectionError, TimeoutError))


def _retrying(what: str, fn: Callable[[], T], policy: RetryPolicy) -> T:
    """Run ``fn`` under ``policy``, turning Kafka failures into typed bus errors."""
    def on_retry(attempt: int, err: BaseException, wait: float) -> None:
        log.warning("kafka %s failed (attempt %d, retry in %.2fs): %s", what, attempt, wait, err)

    try:
        return retry_call(fn, policy, is_transient, on_retry=on_retry)
    except RetryError as err:
        raise BusUnavailableError(f"kafka {what}: {err}") from err
    except KafkaError as err:
        raise BusError(f"kafka {what}: {err}") from err


def make_producer(bootstrap: str, client_id: str, linger_ms: int = 0, transactional_id: str | None = None,
                  security: KafkaSecurity | None = None, **overrides: object) -> KafkaProducer:
    """A durable producer: acks from all in-sync replicas, idempotent, retrying sends.

    With ``transactional_id`` it is transactional (its transactions initialised):
    a stage worker publishes a batch's outputs and commits the batch's input
    offsets in one transaction, so read-committed consumers see each output once.
    ``linger_ms`` is 0 because every send here waits for its acknowledgement
    (:func:`publish`) before the next: a linger would delay each message by its
    full length and batch nothing. ``overrides`` are passed to
    :class:`kafka.KafkaProducer` as-is (e.g. ``compression_type``). An unreachable broker
    raises :class:`BusUnavailableError` (after kafka-python's bootstrap timeout).
    """
    config = client_config(bootstrap, client_id, security)
    config.update(
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
        max_in_flight_requests_per_connection=5,
        request_timeout_ms=10_000,
        delivery_timeout_ms=30_000,
        max_block_ms=10_000,
        reconnect_backoff_max_ms=2_000,
    )
    if transactional_id:
        config["transactional_id"] = transactional_id
        # A process killed mid-transaction leaves it open, and read-committed consumers of
        # its partitions wait for the broker to abort it: this long at most.
        config["transaction_timeout_ms"] = TRANSACTION_TIMEOUT_MS
    config.update(overrides)
    producer = _retrying(f"connect producer to {bootstrap}", lambda: KafkaProducer(**config), NO_RETRY)
    if transactional_id:
        _retrying("initialise transactions", producer.init_transactions, RetryPolicy(deadline_s=30.0))
    return producer


def producer_broken(producer: KafkaProducer) -> bool:
    """Whether a transactional producer is in an error state it cannot leave (replace it with a new one).

    E.g. its transaction timed out on the broker while the broker was away, or a
    commit failed: kafka-python then refuses every further transaction.
    """
    manager = getattr(producer, "_transaction_manager", None)
    return bool(manager is not None and manager.is_transactional() and manager.has_error())


def _header_list(headers: Headers | None) -> list[tuple[str, bytes]]:
    items = headers.items() if isinstance(headers, Mapping) else (headers or [])
    return [(name, value.encode() if isinstance(value, str) else bytes(value)) for name, value in items]


def publish(
    producer: KafkaProducer,
    topic: str,
    key: str,
    value: bytes,
    headers: Headers | None = None,
    timeout_s: float = 30.0,
    retry: RetryPolicy | None = None,
) -> RecordMetadata:
    """Send one message and wait until the broker has acknowledged it.

    ``key`` (the request id) picks the partition, so one request's events stay in
    order. Sends that fail transiently (no leader yet, broker restarting) are
    retried under ``retry`` (default: up to 30 s); a retried send may duplicate a
    message the broker did store, which at-least-once consumers tolerate.
    """
    policy = retry or RetryPolicy(deadline_s=30.0)
    header_list = _header_list(headers)

    def send() -> RecordMetadata:
        future = producer.send(topic, key=key.encode(), value=value, headers=header_list)
        return future.get(timeout=timeout_s)

    return _retrying(f"publish to {topic}", send, policy)


def await_transaction(producer: KafkaProducer, result, on_waiting: Callable[[], None] | None = None,
                      poll_s: float = 5.0, timeout_s: float | None = None) -> None:
    """Wait for a transactional request (commit, abort, offsets) to finish; raise its error if it failed.

    Without ``timeout_s`` it waits as long as the broker is away (calling
    ``on_waiting`` every ``poll_s``); with it, :class:`BusUnavailableError` after that long.
    """
    producer._sender.wakeup()
    started = time.monotonic()
    while not result.wait(timeout_ms=int(poll_s * 1000)):
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            raise BusUnavailableError(f"kafka transaction not settled after {timeout_s:.0f}s")
        if on_waiting is not None:
            on_waiting()


def abort_transaction(producer: KafkaProducer, on_waiting: Callable[[], None] | None = None,
                      timeout_s: float | None = None) -> None:
    """Abort the open transaction; :class:`BusUnavailableError` if that has not settled after ``timeout_s``."""
    await_transaction(producer, producer._transaction_manager.begin_abort(), on_waiting, timeout_s=timeout_s)


def _parse_mark(committed: OffsetAndMetadata | None, offset: int) -> tuple[int, int] | None:
    """``(attempts, last suspect offset)`` from a committed offset's metadata, if it marks ``offset``."""
    metadata = getattr(committed, "metadata", "") or ""
    if committed is None or committed.offset != offset or not metadata.startswith(ATTEMPT_MARK):
        return None
    try:
        attempts, last = metadata[len(ATTEMPT_MARK):].split(":")
        return int(attempts), int(last)
    except ValueError:
        return None


class _CountRebalances(ConsumerRebalanceListener):
    """Counts partition revocations, so a batch gathered across one is known to be stale, and forgets
    the committed offsets this member knew: another member may have committed since."""

    def __init__(self, owner: "BatchConsumer") -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked) -> None:
        self.owner.rebalances += 1
        self.owner.forget_committed()

    def on_partitions_assigned(self, assigned) -> None:
        self.owner.forget_committed()


class BatchConsumer:
    """A group member that hands out batches and commits only what was processed.

    ``poll_batch`` returns up to ``max_batch`` records, waiting at most
    ``max_wait_ms`` for the first and, once it holds one, at most ``linger_ms``
    more for the batch to fill (``None``: until ``max_wait_ms``; 0: only what has
    already arrived, so a lone record is not held back, and under load batches
    fill from what queued during the previous one) (``pattern``, a regular expression, subscribes to
    every topic it matches instead of ``topics``, new ones as they appear). Nothing is committed automatically: call
    :meth:`commit` with the records whose output has been acknowledged. Records
    returned but never committed are delivered again to whichever member owns their
    partition next (after :meth:`close`, a crash or a rebalance), or at once after
    :meth:`rewind`.
    """

    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        topics: Iterable[str],
        max_batch: int = 16,
        max_wait_ms: int = 200,
        linger_ms: int | None = None,
        client_id: str | None = None,
        retry: RetryPolicy | None = None,
        security: KafkaSecurity | None = None,
        pattern: str | None = None,
        stall_check_s: float = STALL_CHECK_S,
        **overrides: object,
    ) -> None:
        if max_batch < 1 or max_wait_ms < 0 or (linger_ms is not None and linger_ms < 0):
            raise ValueError("max_batch must be >= 1, max_wait_ms and linger_ms >= 0")
        self.max_batch = max_batch
        self.max_wait_ms = max_wait_ms
        self.linger_ms = linger_ms
        self.retry = retry or RetryPolicy(deadline_s=30.0)
        config = client_config(bootstrap, client_id or f"{group_id}-consumer", security)
        config.update(
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Outputs of aborted transactions (a worker that died mid-batch) are never seen.
            isolation_level="read_committed",
            max_poll_records=max_batch,
            retry_backoff_ms=CONSUMER_RETRY_BACKOFF_MS,
            # The broker answers a fetch as soon as one byte is there, and holds an empty
            # one at most 500 ms (kafka-python's defaults, set here to say so): arrivals
            # are not delayed (measured: a read-committed record reaches a waiting poll
            # a few ms after its commit), and an idle member sends two fetches a second.
            fetch_min_bytes=1,
            fetch_max_wait_ms=500,
            reconnect_backoff_max_ms=2_000,
            metadata_max_age_ms=10_000,
            # A member killed without leaving holds its partitions until its session
            # expires: 10 s, not the client's 45 s (heartbeats run in their own thread).
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=SESSION_TIMEOUT_MS // 3,
        )
        config.update(overrides)
        self._config = config
        self._topics = list(topics)
        self.rebalances = 0
        self.replacements = 0
        # The group's committed offset (and its metadata) per partition, as this member last committed
        # or read it while it owned the partition: only this member commits there until a rebalance.
        self._committed: dict[TopicPartition, OffsetAndMetadata | None] = {}
        self.progress = ProgressWatch(stall_check_s)
        self.pattern = re.compile(pattern) if pattern else None
        self.consumer: KafkaConsumer = self._joined_client()

    def _joined_client(self) -> KafkaConsumer:
        """A new client of this member's group, subscribed (a pattern subscribes at its first poll)."""
        consumer = _retrying(f"connect consumer to {self._config['bootstrap_servers']}",
                             lambda: KafkaConsumer(**self._config), NO_RETRY)
        self._pattern_checked = 0.0
        if self.pattern is None:
            consumer.subscribe(self._topics, listener=_CountRebalances(self))
        # Fetch topic metadata before the first group join: a member that joins
        # without it is assigned nothing until the next metadata refresh.
        _retrying("fetch topic metadata", consumer.topics, self.retry)
        return consumer

    def _replace_client(self) -> None:
        """Swap a stuck client for a new member of the group (:mod:`fittingroom.consumer_progress`).

        The new client joins before the old one leaves; if it cannot be made, the
        old one is kept and the watch tries again one interval later.
        """
        log.error("consumer stuck: committed records wait on its group's partitions but none arrive; "
                  "replacing its client", extra={"group": self._config["group_id"]})
        stuck = self.consumer
        self.consumer = self._joined_client()
        self.rebalances += 1  # anything gathered before belongs to the old member
        self.forget_committed()
        self.replacements += 1
        try:
            stuck.close(autocommit=False)
        except KafkaError as exc:
            log.warning("closing the stuck consumer failed", extra={"error": str(exc)})

    def poll_batch(self) -> list[ConsumerRecord]:
        """Up to ``max_batch`` records, returned when full or ``max_wait_ms`` has passed.

        Records of one partition keep their order; an empty list means nothing
        arrived in time (the caller simply polls again).
        """
        if self.pattern is not None and not self._follow_pattern():
            time.sleep(self.max_wait_ms / 1000.0)  # nothing matches yet: an empty batch, as when nothing arrives
            return []
        batch: list[ConsumerRecord] = []
        deadline = time.monotonic() + self.max_wait_ms / 1000.0
        while len(batch) < self.max_batch:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            seen = self.rebalances
            polled = self.consumer.poll(timeout_ms=remaining_ms, max_records=self.max_batch - len(batch))
            if self.rebalances != seen:
                # Partitions moved during this poll: what was gathered before may now be
                # another member's (it starts from the last commit), or be fetched again here.
                batch = []
            had = len(batch)
            for records in polled.values():
                batch.extend(records)
            if remaining_ms == 0:
                break
            if batch and not had and self.linger_ms is not None:
                deadline = min(deadline, time.monotonic() + self.linger_ms / 1000.0)
        self._watch_progress(batch)
        return batch

    def _watch_progress(self, batch: list[ConsumerRecord]) -> None:
        if batch:
            self.progress.progressed()
            return
        try:
            stuck = self.progress.stuck(self.consumer)
        except KafkaError as exc:
            log.warning("consumer progress check failed; trying again later", extra={"error": str(exc)})
            return
        if stuck:
            self._replace_client()

    def _follow_pattern(self) -> bool:
        """Subscribe to the topics ``pattern`` matches now (listed every ``PATTERN_REFRESH_S``); whether any do.

        Listed here rather than by kafka-python's own pattern subscription, which
        was seen to miss a topic created after a broker restart.
        """
        if time.monotonic() - self._pattern_checked >= PATTERN_REFRESH_S:
            self._pattern_checked = time.monotonic()
            found = sorted(t for t in _retrying("list topics", self.consumer.topics, self.retry)
                           if self.pattern.fullmatch(t))
            if set(found) != (self.consumer.subscription() or set()):
                if found:
                    self.consumer.subscribe(found, listener=_CountRebalances(self))
                else:
                    self.consumer.unsubscribe()
        return bool(self.consumer.subscription())

    @staticmethod
    def _next_offsets(records: Iterable[ConsumerRecord]) -> dict[TopicPartition, OffsetAndMetadata]:
        """Per partition, the offset after the highest processed record."""
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for rec in records:
            tp = TopicPartition(rec.topic, rec.partition)
            if tp not in offsets or offsets[tp].offset <= rec.offset:
                epoch = rec.leader_epoch if rec.leader_epoch is not None else -1
                offsets[tp] = OffsetAndMetadata(rec.offset + 1, "", epoch)
        return offsets

    def commit_in_transaction(self, producer: KafkaProducer, records: Iterable[ConsumerRecord],
                              suspects_until: int | None = None, on_waiting: Callable[[], None] | None = None) -> None:
        """Make committing ``records`` part of ``producer``'s open transaction, then commit that.

        The outputs published in the transaction and the input offsets become
        visible together, or (if the process dies first) not at all. While the
        broker does not answer, this waits (calling ``on_waiting`` every few
        seconds) rather than giving up: a commit whose outcome is unknown must
        not be followed by reprocessing the batch.
        """
        offsets = self._offsets_to_commit(records, suspects_until)
        manager = producer._transaction_manager  # kafka-python's own methods wait without a timeout
        with self._committing(offsets):
            await_transaction(producer, manager.send_offsets_to_transaction(offsets, self.consumer.group_metadata()),
                              on_waiting)
            await_transaction(producer, manager.begin_commit(), on_waiting)

    @staticmethod
    def abort_in_transaction(producer: KafkaProducer, on_waiting: Callable[[], None] | None = None,
                             timeout_s: float | None = None) -> None:
        """Abort ``producer``'s open transaction (nothing it published becomes visible)."""
        abort_transaction(producer, on_waiting, timeout_s)

    def _offsets_to_commit(self, records: Iterable[ConsumerRecord],
                           suspects_until: int | None) -> dict[TopicPartition, OffsetAndMetadata]:
        offsets = self._next_offsets(records)
        if suspects_until is not None:
            # Every record of a crashed batch was in its one attempt: the next suspect starts at 1.
            offsets = {tp: OffsetAndMetadata(meta.offset, f"{ATTEMPT_MARK}1:{suspects_until}", meta.leader_epoch)
                       if meta.offset <= suspects_until else meta for tp, meta in offsets.items()}
        return offsets

    def commit(self, records: Iterable[ConsumerRecord], suspects_until: int | None = None) -> dict[TopicPartition, int]:
        """Commit ``records`` as processed (offset + 1 per partition); returns the offsets.

        ``suspects_until``: records up to this offset are still suspects (handled
        one at a time after a crash); the commit carries that on as a marker.
        Raises :class:`BusError` when the group has moved the partition to another
        member meanwhile; those records will be re-delivered there.
        """
        offsets = self._offsets_to_commit(records, suspects_until)
        if offsets:
            with self._committing(offsets):
                _retrying("commit", lambda: self.consumer.commit(offsets), self.retry)
        return {tp: meta.offset for tp, meta in offsets.items()}

    @contextmanager
    def _committing(self, offsets: Mapping[TopicPartition, OffsetAndMetadata]) -> Iterator[None]:
        """Remember ``offsets`` as committed once the body returns; forget them if it raises (outcome unknown)."""
        try:
            yield
        except BaseException:
            for tp in offsets:
                self._committed.pop(tp, None)
            raise
        self._committed.update(offsets)

    def forget_committed(self) -> None:
        """Read committed offsets from the group again (after a rebalance: another member may have committed)."""
        self._committed.clear()

    def _committed_at(self, tp: TopicPartition) -> OffsetAndMetadata | None:
        """The group's committed offset of ``tp``: as this member last committed or read it, else from the broker."""
        if tp not in self._committed:
            self._committed[tp] = _retrying("read committed offset",
                                            lambda: self.consumer.committed(tp, metadata=True), self.retry)
        return self._committed[tp]

    @staticmethod
    def _first_offsets(records: Iterable[ConsumerRecord]) -> dict[TopicPartition, int]:
        first: dict[TopicPartition, int] = {}
        for rec in records:
            tp = TopicPartition(rec.topic, rec.partition)
            first[tp] = min(first.get(tp, rec.offset), rec.offset)
        return first

    def attempts_before(self, records: Iterable[ConsumerRecord]) -> dict[TopicPartition, tuple[int, int] | None]:
        """Per partition, ``(attempts started, last suspect offset)`` at its first record, or ``None``.

        Not ``None`` only after a process died while handling a batch: the marker
        :meth:`mark_attempt` left in the group's committed offset says how often
        handling began at this offset, and up to which offset the records it was
        handled with are suspects. The marker lives in Kafka, so it survives the crash.
        """
        found: dict[TopicPartition, tuple[int, int] | None] = {}
        for tp, offset in self._first_offsets(records).items():
            found[tp] = _parse_mark(self._committed_at(tp), offset)
        return found

    def mark_attempt(self, records: Iterable[ConsumerRecord], attempt: int, last: int | None = None) -> None:
        """Durably note that handling ``records`` starts its ``attempt``-th try (committed offsets unchanged).

        ``last``: the last suspect offset (default: each partition's last record here).
        """
        records = list(records)
        ends = {tp: meta.offset - 1 for tp, meta in self._next_offsets(records).items()}
        offsets = {tp: OffsetAndMetadata(offset, f"{ATTEMPT_MARK}{attempt}:{ends[tp] if last is None else last}", -1)
                   for tp, offset in self._first_offsets(records).items()}
        if offsets:
            with self._committing(offsets):
                _retrying("mark attempt", lambda: self.consumer.commit(offsets), self.retry)

    def rewind(self, records: Iterable[ConsumerRecord]) -> None:
        """Seek back so the next poll returns ``records`` (and what followed) again.

        Partitions no longer assigned to this member are skipped: their new owner
        starts from the last commit anyway.
        """
        first = self._first_offsets(records)
        assigned = self.consumer.assignment()
        for tp, offset in first.items():
            if tp in assigned:
                self.consumer.seek(tp, offset)

    def close(self) -> None:
        """Leave the group without committing anything not already committed."""
        self.consumer.close(autocommit=False)

    def __enter__(self) -> "BatchConsumer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TopicReader:
    """Reads whole topics from their beginning, then follows them; no consumer group, nothing committed.

    Every reader sees every record, which is how each gateway replica rebuilds its
    view of a compacted topic (``tryon.status``) at start, and how a chaos run
    counts outcomes. Read-committed: a transaction's records appear once it
    commits. Partitions added later are picked up by :meth:`refresh_partitions`.
    """

    def __init__(self, bootstrap: str, topics: str | Sequence[str], client_id: str, retry: RetryPolicy | None = None,
                 security: KafkaSecurity | None = None, **overrides: object) -> None:
        self.topics = [topics] if isinstance(topics, str) else list(topics)
        self.retry = retry or RetryPolicy(deadline_s=30.0)
        config = client_config(bootstrap, client_id, security)
        config.update(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            retry_backoff_ms=CONSUMER_RETRY_BACKOFF_MS,
            reconnect_backoff_max_ms=2_000,
            metadata_max_age_ms=10_000,
        )
        config.update(overrides)
        self.consumer: KafkaConsumer = _retrying(f"connect reader to {bootstrap}", lambda: KafkaConsumer(**config),
                                                 NO_RETRY)
        self.refresh_partitions()

    def refresh_partitions(self) -> int:
        """Assign every partition the topics have now; new ones are read from their beginning. Returns the count."""
        partitions = set()
        for topic in self.topics:
            found = _retrying(f"fetch partitions of {topic}", lambda: self._partitions_of(topic), self.retry)
            partitions |= {TopicPartition(topic, p) for p in found}
        assigned = self.consumer.assignment()
        if partitions != assigned:
            self.consumer.assign(sorted(partitions))
            new = sorted(partitions - assigned)
            if new:
                self.consumer.seek_to_beginning(*new)
        return len(partitions)

    def _partitions_of(self, topic: str) -> set[int]:
        found = self.consumer.partitions_for_topic(topic)
        if not found:
            raise UnknownTopicOrPartitionError(f"{topic} has no partitions yet")  # retriable: asked again
        return found

    def poll(self, timeout_ms: int = 500, max_records: int = 1000) -> list[ConsumerRecord]:
        """The records that arrived, in order per partition (empty after ``timeout_ms`` without any)."""
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        return [record for records in polled.values() for record in records]

    def end_offsets(self) -> dict[TopicPartition, int]:
        """Per partition, the offset after its last committed record now."""
        return _retrying("read end offsets", lambda: self.consumer.end_offsets(sorted(self.consumer.assignment())),
                         self.retry)

    def reached(self, ends: Mapping[TopicPartition, int]) -> bool:
        """Whether this reader has read up to ``ends`` (an earlier :meth:`end_offsets`)."""
        return all(self.consumer.position(tp) >= end for tp, end in ends.items())

    def close(self) -> None:
        self.consumer.close(autocommit=False)


class AtomicPublisher:
    """Publishes a group of records all or none (one Kafka transaction), one group at a time.

    For a request that must appear on several topics together (a submission and its
    first status). When a transaction's outcome is unknown (the broker went away
    mid-commit) the producer is replaced: a new producer with the same
    transactional id fences the old one and aborts whatever it left open, so the
    group is then either fully visible or not at all. With ``transactional`` off
    it publishes the records in order (at least once).
    """

    def __init__(self, make: Callable[[], KafkaProducer], transactional: bool, timeout_s: float = 10.0) -> None:
        self.make = make
        self.transactional = transactional
        self.timeout_s = timeout_s
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()

    def connect(self) -> "AtomicPublisher":
        """Create the producer now (transactions initialised) rather than at the first publish."""
        with self._lock:
            self._producer = self._producer or self.make()
        return self

    def publish(self, messages: Sequence[tuple[str, str, bytes]]) -> None:
        """Publish ``(topic, key, value)`` messages; raises :class:`BusError` (nothing visible) on failure."""
        with self._lock:
            producer = self._producer or self.make()
            self._producer = producer
            if not self.transactional:
                for topic, key, value in messages:
                    publish(producer, topic, key, value, retry=RetryPolicy(deadline_s=self.timeout_s))
                return
            try:
                producer.begin_transaction()
                for topic, key, value in messages:
                    publish(producer, topic, key, value, retry=RetryPolicy(deadline_s=self.timeout_s))
                await_transaction(producer, producer._transaction_manager.begin_commit(), timeout_s=self.timeout_s)
            except BaseException:
                self._discard()
                raise

    def _discard(self) -> None:
        """Drop the producer; its successor (same transactional id) aborts what it left open."""
        producer, self._producer = self._producer, None
        try:
            producer.close(timeout=1)
        except Exception as exc:  # noqa: BLE001 - closing a broken producer may fail; it is dropped either way
            log.warning("closing a failed transactional producer failed", extra={"error": str(exc)})

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None
