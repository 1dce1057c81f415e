"""The stage worker without Kafka: publish, then commit; DLQ; transient retry; failures as events."""

from __future__ import annotations

from dataclasses import dataclass, field

from fittingroom.chain import DLQ, FAILED, stage
from fittingroom.errors import NoGarmentError, TransientError
from fittingroom.retry import RetryPolicy
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
    log: list
    consumer: FakeKafkaConsumer = field(default_factory=FakeKafkaConsumer)

    def commit(self, records):
        self.log.append(("commit", [r.offset for r in records]))


@dataclass
class FakeProducer:
    log: list

    def flush(self):
        self.log.append(("flush",))


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


def test_a_transient_failure_past_the_deadline_becomes_a_failed_event():
    handler = Handler({"b": [TransientError("store down")] * 1000})
    worker, log = _worker(handler, deadline_s=0.05)
    worker.process([_record("b", 0)])
    assert [e[1] for e in log if e[0] == "publish"] == [FAILED]
    assert log[-1] == ("commit", [0])


def test_a_handler_that_crashes_fails_its_batch_without_killing_the_worker():
    class Crashing:
        def handle_batch(self, events):
            raise RuntimeError("boom")

    worker, log = _worker(Crashing())
    worker.process([_record("a", 0), _record("b", 1)])
    assert [e[1] for e in log if e[0] == "publish"] == [FAILED, FAILED]
    assert log[-1] == ("commit", [0, 1])
