"""The stage worker without Kafka: publish, then commit; DLQ; transient retry; failures as events."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest
from kafka.errors import KafkaTimeoutError
from kafka.structs import TopicPartition

from fittingroom.chain import DLQ, FAILED, stage
from fittingroom.errors import BusUnavailableError, NoGarmentError, TransientError
from fittingroom.retry import RetryPolicy
from fittingroom.errors import DependencyDown
from fittingroom.serving.worker import StageWorker
from fittingroom.v1 import common_pb2, events_pb2

SPEC = stage("style")


@dataclass
class Record:
    value: bytes | None
    key: bytes | None = b"k"
    topic: str = SPEC.input_topic
    partition: int = 0
    offset: int = 0


class FakeKafkaConsumer:
    def assignment(self):
        return set()


@dataclass
class FakeConsumer:
    """Commits and attempt markers kept like Kafka keeps them: per partition, until the next commit."""

    log: list
    consumer: FakeKafkaConsumer = field(default_factory=FakeKafkaConsumer)
    markers: dict = field(default_factory=dict)

    @staticmethod
    def _first(records):
        first = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            first[tp] = min(first.get(tp, r.offset), r.offset)
        return first

    def attempts_before(self, records):
        found = {}
        for tp, offset in self._first(records).items():
            marker = self.markers.get(tp)
            found[tp] = marker[1:] if marker and marker[0] == offset else None
        return found

    def mark_attempt(self, records, attempt, last=None):
        ends = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            ends[tp] = max(ends.get(tp, r.offset), r.offset)
        for tp, offset in self._first(records).items():
            self.markers[tp] = (offset, attempt, ends[tp] if last is None else last)

    def commit(self, records, suspects_until=None):
        self.log.append(("commit", [r.offset for r in records]))
        for tp in self._first(records):
            following = max(r.offset for r in records if (r.topic, r.partition) == (tp.topic, tp.partition)) + 1
            if suspects_until is not None and following <= suspects_until:
                self.markers[tp] = (following, 1, suspects_until)
            else:
                self.markers.pop(tp, None)

    def rewind(self, records):
        self.log.append(("rewind", [r.offset for r in records]))

    def commit_in_transaction(self, producer, records, suspects_until=None, on_waiting=None):
        self.commit(records, suspects_until)
        producer.commit_transaction()

    @staticmethod
    def abort_in_transaction(producer, on_waiting=None, timeout_s=None):
        producer.abort_transaction()


@dataclass
class FakeProducer:
    log: list

    def flush(self):
        self.log.append(("flush",))

    def begin_transaction(self):
        self.log.append(("begin",))

    def commit_transaction(self):
        self.log.append(("end",))

    def abort_transaction(self):
        self.log.append(("abort",))


class Handler:
    """Answers from a script: per request id, a list of outcomes, one per attempt."""

    def __init__(self, script):
        self.script = script
        self.calls = []

    def handle_batch(self, events):
        self.calls.append([e.request_id for e in events])
        out = []
        for event in events:
            outcome = self.script[event.request_id].pop(0)
            if isinstance(outcome, Exception):
                out.append(outcome)
            else:
                done = events_pb2.TryOnEvent()
                done.CopyFrom(event)
                done.stage = events_pb2.STYLED
                out.append(done)
        return out


def _record(request_id: str, offset: int) -> Record:
    return Record(events_pb2.TryOnEvent(request_id=request_id).SerializeToString(), offset=offset)


def _worker(handler, deadline_s=5.0):
    log: list = []

    def publish(_producer, topic, key, value, headers=None):
        log.append(("publish", topic, key, value, headers))

    retry = RetryPolicy(deadline_s=deadline_s, initial_delay_s=0.001, max_delay_s=0.002)
    return StageWorker(SPEC, handler, FakeConsumer(log), FakeProducer(log), publish, retry), log


def test_results_are_published_and_flushed_before_the_batch_is_committed():
    worker, log = _worker(Handler({"a": ["ok"], "b": [NoGarmentError("none found")]}))
    worker.process([_record("a", 0), _record("b", 1)])
    kinds = [entry[0] for entry in log]
    assert kinds == ["publish", "publish", "flush", "commit"]
    assert log[0][1] == SPEC.output_topic and log[0][2] == "a"
    assert log[1][1] == FAILED
    failed = events_pb2.TryOnEvent.FromString(log[1][3])
    assert failed.stage == events_pb2.FAILED and failed.error.code == common_pb2.ErrorCode.Value("NO_GARMENT")
    assert failed.error.stage == SPEC.name
    assert log[-1] == ("commit", [0, 1])


def test_an_unreadable_record_goes_to_the_dlq_and_the_rest_goes_on():
    worker, log = _worker(Handler({"a": ["ok"]}))
    worker.process([Record(b"\xff\xfe not protobuf", offset=7), _record("a", 8)])
    dlq = [entry for entry in log if entry[0] == "publish" and entry[1] == DLQ]
    assert len(dlq) == 1
    headers = dict(dlq[0][4])
    assert headers["source-offset"] == b"7" and headers["source-topic"] == SPEC.input_topic.encode()
    assert ("commit", [7, 8]) in log


def test_a_transient_failure_is_retried_for_that_event_only():
    handler = Handler({"a": ["ok"], "b": [TransientError("store down"), TransientError("store down"), "ok"]})
    worker, log = _worker(handler)
    worker.process([_record("a", 0), _record("b", 1)])
    assert handler.calls == [["a", "b"], ["b"], ["b"]]
    published = [(e[1], e[2]) for e in log if e[0] == "publish"]
    assert published == [(SPEC.output_topic, "a"), (SPEC.output_topic, "b")]


def test_storage_down_past_the_retry_deadline_pauses_instead_of_failing():
    handler = Handler({"b": [TransientError("store down")] * 1000})
    worker, log = _worker(handler, deadline_s=0.05)
    with pytest.raises(DependencyDown):
        worker.process([_record("b", 0)])
    assert not [e for e in log if e[0] in ("publish", "commit")]  # nothing failed, nothing committed


def test_a_request_past_its_own_deadline_fails_on_a_transient_error():
    handler = Handler({"b": [TransientError("store down")] * 1000})
    worker, log = _worker(handler, deadline_s=0.05)
    worker.request_deadline_s = 60
    event = events_pb2.TryOnEvent(request_id="b")
    event.created.FromSeconds(int(time.time()) - 3600)
    worker.process([Record(event.SerializeToString(), offset=0)])
    assert [e[1] for e in log if e[0] == "publish"] == [FAILED]
    assert log[-1] == ("commit", [0])


def test_a_tombstone_goes_to_the_dlq():
    worker, log = _worker(Handler({"a": ["ok"]}))
    worker.process([Record(None, offset=3), _record("a", 4)])
    dlq = [e for e in log if e[0] == "publish" and e[1] == DLQ]
    assert len(dlq) == 1 and b"tombstone" in dict(dlq[0][4])["reason"]
    assert ("commit", [3, 4]) in log


def test_an_event_that_crashes_the_handler_goes_to_the_dlq_and_its_neighbours_go_on():
    class CrashesOnPoison(Handler):
        def handle_batch(self, events):
            if any(e.request_id == "poison" for e in events):
                raise RuntimeError("segfault-like crash")
            return super().handle_batch(events)

    worker, log = _worker(CrashesOnPoison({"a": ["ok"], "c": ["ok"]}))
    worker.process([_record("a", 0), _record("poison", 1), _record("c", 2)])
    published = [(e[1], e[2]) for e in log if e[0] == "publish"]
    assert (SPEC.output_topic, "a") in published and (SPEC.output_topic, "c") in published
    assert (DLQ, "k") in published and (FAILED, "poison") in published
    assert log[-1] == ("commit", [0, 1, 2])


def test_an_untyped_error_in_one_outcome_is_a_crash_and_a_typed_one_a_failure():
    worker, log = _worker(Handler({"a": [IndexError("axis 1 is out of bounds")], "b": [NoGarmentError("none")]}))
    worker.process([_record("a", 0), _record("b", 1)])
    published = [(e[1], e[2]) for e in log if e[0] == "publish"]
    assert published == [(DLQ, "k"), (FAILED, "a"), (FAILED, "b")]
    crashed = events_pb2.TryOnEvent.FromString(log[1][3])
    assert crashed.error.code == common_pb2.ErrorCode.Value("INTERNAL") and "IndexError" in crashed.error.message


class ScriptedConsumer(FakeConsumer):
    """poll_batch answers from a script: a list of records, or an exception to raise."""

    def __init__(self, log, script, worker_stop):
        super().__init__(log)
        self.script = list(script)
        self.worker_stop = worker_stop

    def poll_batch(self):
        if not self.script:
            self.worker_stop()
            return []
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    def close(self):
        self.log.append(("close",))


def test_the_worker_pauses_while_kafka_is_down_and_resumes():
    health = []
    worker, log = _worker(Handler({"a": ["ok"]}))
    worker.on_health, worker.max_pause_s = health.append, 0.01
    worker.consumer = ScriptedConsumer(log, [BusUnavailableError("broker gone"), KafkaTimeoutError(),
                                             [_record("a", 0)]], worker.stop)
    worker.run()
    assert ("publish", SPEC.output_topic, "a") in [e[:3] for e in log]
    assert health[:2] == [False, False] and health[-1] is True
    assert log[-1] == ("close",)


def test_the_batch_in_hand_is_rewound_while_storage_is_down():
    handler = Handler({"b": [TransientError("store down"), "ok"]})
    worker, log = _worker(handler, deadline_s=0.0)
    worker.max_pause_s = 0.01
    worker.consumer = ScriptedConsumer(log, [[_record("b", 5)], [_record("b", 5)]], worker.stop)
    worker.run()
    kinds = [e[0] for e in log]
    assert kinds.index("rewind") < kinds.index("publish")
    assert ("commit", [5]) in log


def test_an_unexpected_error_escapes_the_worker_for_the_runner_to_act_on():
    worker, log = _worker(Handler({}))
    worker.consumer = ScriptedConsumer(log, [TypeError("a bug")], worker.stop)
    with pytest.raises(TypeError):
        worker.run()


def test_the_supervisor_notices_a_loop_that_dies_or_ends_unasked():
    from fittingroom.serving.runner import Supervisor

    class Raises:
        def run(self):
            raise TypeError("parse_event on a tombstone")

        def stop(self):
            pass

    class EndsEarly(Raises):
        def run(self):
            return None

    class Waits(Raises):
        def __init__(self):
            import threading

            self.stopped = threading.Event()

        def run(self):
            self.stopped.wait(10)

        def stop(self):
            self.stopped.set()

    for loop in (Raises(), EndsEarly()):
        supervisor = Supervisor("style")
        supervisor.start(loop)
        assert supervisor.failed.wait(5)
    healthy, loop = Supervisor("style"), Waits()
    healthy.start(loop)
    healthy.stopping.set()
    loop.stop()
    healthy.join(5)
    assert not healthy.failed.is_set()


def test_after_a_crash_the_batch_is_handled_one_record_at_a_time_until_the_poison_is_dead_lettered():
    handler = Handler({"a": ["ok"], "c": ["ok"]})
    worker, log = _worker(handler)
    tp = TopicPartition(SPEC.input_topic, 0)
    batch = [_record("a", 0), _record("poison", 1), _record("c", 2)]
    worker.consumer.markers[tp] = (0, 1, 2)  # a process died once handling offsets 0..2
    worker.process(batch)
    assert handler.calls == [["a"]] and ("rewind", [1, 2]) in log  # "a" alone, the rest put back
    done = events_pb2.TryOnEvent.FromString(next(e[3] for e in log if e[0] == "publish"))
    assert done.attempt == 2
    assert worker.consumer.markers[tp] == (1, 1, 2)  # offsets 1..2 are still suspects, tried once

    for attempt in range(2, worker.max_attempts + 1):  # the poison kills the process each time
        worker.consumer.mark_attempt(batch[1:], attempt, 2)
    log.clear()
    worker.process(batch[1:])
    published = [(e[1], e[2]) for e in log if e[0] == "publish"]
    assert published == [(DLQ, "k"), (FAILED, "poison")]
    assert worker.consumer.markers[tp] == (2, 1, 2)

    log.clear()
    worker.process(batch[2:])  # "c" still goes alone (the last suspect), then the partition is clean
    assert [(e[1], e[2]) for e in log if e[0] == "publish"] == [(SPEC.output_topic, "c")]
    assert tp not in worker.consumer.markers


def test_pausing_on_a_dependency_is_not_counted_as_a_death():
    outage = [TransientError("store down")] * 5
    handler = Handler({"a": outage + ["ok"]})
    worker, log = _worker(handler, deadline_s=0.0)
    for _ in range(5):  # five pauses, each re-polling the same record
        with pytest.raises(DependencyDown):
            worker.process([_record("a", 0)])
    worker.process([_record("a", 0)])
    published = [(e[1], e[2]) for e in log if e[0] == "publish"]
    assert published == [(SPEC.output_topic, "a")]
    assert events_pb2.TryOnEvent.FromString(next(e[3] for e in log if e[0] == "publish")).attempt == 1


def test_in_transactional_mode_outputs_and_offsets_commit_together_or_not_at_all():
    worker, log = _worker(Handler({"a": ["ok"], "b": [NoGarmentError("none")]}))
    worker.transactional = True
    worker.process([_record("a", 0), _record("b", 1)])
    assert [e[0] for e in log] == ["begin", "publish", "publish", "commit", "end"]

    def broken_publish(*_args, **_kwargs):
        raise BusUnavailableError("broker gone mid-batch")

    worker, log = _worker(Handler({"a": ["ok"]}))
    worker.transactional, worker.publish = True, broken_publish
    with pytest.raises(BusUnavailableError):
        worker.process([_record("a", 0)])
    assert [e[0] for e in log] == ["begin", "abort"]  # nothing committed: the batch comes back


class _Manager:
    def __init__(self, error: bool) -> None:
        self.error = error

    def is_transactional(self) -> bool:
        return True

    def has_error(self) -> bool:
        return self.error


class _TransactionalProducer:
    def __init__(self, error: bool) -> None:
        self._transaction_manager = _Manager(error)
        self.closed = False

    def close(self, timeout=None) -> None:
        self.closed = True


def test_a_transactional_producer_in_an_error_state_is_replaced_at_the_pause_and_a_healthy_one_kept():
    from fittingroom.serving.worker import renewed

    healthy, broken, fresh = _TransactionalProducer(False), _TransactionalProducer(True), _TransactionalProducer(False)
    assert renewed(healthy, lambda: fresh) is healthy
    assert renewed(healthy, lambda: fresh, force=True) is fresh and healthy.closed  # after a failed transaction
    assert renewed(broken, lambda: fresh) is fresh and broken.closed

    def broker_still_away():
        raise BusUnavailableError("no broker")

    assert renewed(broken, broker_still_away) is broken  # kept, tried again at the next pause


def test_the_supervisor_takes_the_service_down_when_a_loop_hangs_in_a_call_and_logs_where(caplog):
    import threading

    from fittingroom.serving.runner import Supervisor
    from fittingroom.serving.worker import Heartbeat

    class Loop(Heartbeat):
        def __init__(self, hang: bool):
            self.hang, self.stopped = hang, threading.Event()

        def call_that_never_returns(self):
            self.stopped.wait(30)

        def run(self):
            while not self.stopped.is_set():
                self.beat()
                if self.hang:
                    self.call_that_never_returns()
                self.stopped.wait(0.05)

        def stop(self):
            self.stopped.set()

    hung, turning = Loop(hang=True), Loop(hang=False)
    watched, healthy = Supervisor("style", stall_s=0.4), Supervisor("style", stall_s=0.4)
    watched.start(hung)
    healthy.start(turning)
    try:
        assert watched.failed.wait(10)
        stuck = [r for r in caplog.records if r.getMessage().startswith("background loop stuck")]
        assert stuck and "call_that_never_returns" in stuck[0].stack
        assert not healthy.failed.is_set() and turning.last_beat is not None
    finally:
        for supervisor, loop in ((watched, hung), (healthy, turning)):
            supervisor.stopping.set()
            loop.stop()
