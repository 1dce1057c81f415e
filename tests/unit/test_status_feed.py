"""The gateway's status projector and view, over fake Kafka clients (the real ones: tests/integration)."""

from __future__ import annotations

from dataclasses import dataclass

from fittingroom.chain import COMPLETED, REQUESTS as REQUESTS_TOPIC, STATUS, stage
from fittingroom.gateway.status_feed import StatusProjector, StatusView
from fittingroom.gateway.tracker import StatusTracker, status_of
from fittingroom.serving.metrics import REQUESTS, TENANT_FAILURES
from fittingroom.v1 import common_pb2, events_pb2, tryon_pb2


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None


class FakeConsumer:
    def __init__(self) -> None:
        self.committed: list = []

    def commit(self, records, suspects_until=None) -> None:
        self.committed.extend(records)


class FakeProducer:
    def flush(self) -> None:
        pass


class Published(list):
    def __call__(self, _producer, topic, key, value, headers=None):
        status = tryon_pb2.TryOnStatus()
        status.ParseFromString(value)
        self.append((topic, key, status.stage))


def _event_record(topic: str, offset: int, stage: int, request_id: str = "r1") -> Record:
    event = events_pb2.TryOnEvent(request_id=request_id, stage=stage)
    return Record(topic, 0, offset, event.SerializeToString(), request_id.encode())


def _projector(tracker: StatusTracker | None = None) -> tuple[StatusProjector, FakeConsumer, Published]:
    consumer, published = FakeConsumer(), Published()
    projector = StatusProjector(tracker or StatusTracker(), consumer, FakeProducer(), published, transactional=False)
    return projector, consumer, published


def _completions() -> float:
    return REQUESTS.labels("gateway", "kafka", "ok")._value.get()


def test_each_stage_is_published_once_in_order_and_a_completion_counted_once():
    projector, consumer, published = _projector()
    records = [
        _event_record(REQUESTS_TOPIC, 0, events_pb2.SUBMITTED),
        _event_record(stage("segmentation").output_topic, 0, events_pb2.SEGMENTED),
        _event_record(stage("segmentation").output_topic, 1, events_pb2.SEGMENTED),  # redelivered
        _event_record(COMPLETED, 0, events_pb2.COMPLETED),
        Record(COMPLETED, 0, 1, None),  # a tombstone
        Record(COMPLETED, 0, 2, b"\xff\x00garbage"),
        _event_record(stage("translation").output_topic, 0, events_pb2.TRANSLATED),  # late
    ]
    before = _completions()
    projector.process(records)
    assert published == [(STATUS, "r1", events_pb2.SUBMITTED), (STATUS, "r1", events_pb2.SEGMENTED),
                         (STATUS, "r1", events_pb2.COMPLETED)]
    assert consumer.committed == records
    assert _completions() - before == 1
    projector.process([_event_record(COMPLETED, 3, events_pb2.COMPLETED)])  # a duplicate completion
    assert len(published) == 3 and _completions() - before == 1


def test_a_request_another_replica_finished_is_not_published_or_counted_again():
    view = StatusTracker()
    view.record(tryon_pb2.TryOnStatus(request_id="r1", stage=events_pb2.COMPLETED))  # read from tryon.status
    projector, _, published = _projector(view)
    before = _completions()
    projector.process([_event_record(COMPLETED, 0, events_pb2.COMPLETED)])
    assert published == [] and _completions() == before


def test_a_submission_published_straight_to_kafka_gets_its_status_and_a_gateway_submit_not_again():
    tracker = StatusTracker()
    tracker.record(status_of(events_pb2.TryOnEvent(request_id="r1", stage=events_pb2.SUBMITTED)))  # via Submit
    projector, _, published = _projector(tracker)
    projector.process([_event_record(REQUESTS_TOPIC, 0, events_pb2.SUBMITTED, "r1"),
                       _event_record(REQUESTS_TOPIC, 1, events_pb2.SUBMITTED, "r2")])  # a shop's own publisher
    assert published == [(STATUS, "r2", events_pb2.SUBMITTED)]


class FakeReader:
    def __init__(self, records: list[Record]) -> None:
        self.pending = list(records)
        self.read = 0

    def end_offsets(self) -> dict:
        return {"tp": len(self.pending)}

    def reached(self, ends: dict) -> bool:
        return self.read >= ends["tp"]

    def poll(self, timeout_ms: int = 500, max_records: int = 1000) -> list[Record]:
        batch, self.pending = self.pending[:2], self.pending[2:]
        self.read += len(batch)
        return batch


def _status_record(offset: int, stage_: int, request_id: str) -> Record:
    status = tryon_pb2.TryOnStatus(request_id=request_id, stage=stage_)
    return Record(STATUS, 0, offset, status.SerializeToString(), request_id.encode())


def test_the_view_rebuilds_every_request_from_the_compacted_topic():
    records = [_status_record(0, events_pb2.COMPLETED, "a"), Record(STATUS, 0, 1, None),
               Record(STATUS, 0, 2, b"\xff\x00garbage"), _status_record(3, events_pb2.STYLED, "b"),
               _status_record(4, events_pb2.SEGMENTED, "b")]  # an older status after a newer one
    tracker = StatusTracker()
    view = StatusView(tracker, FakeReader(records))
    assert view.catch_up(timeout_s=5.0)
    assert view.records_read == len(records)
    assert tracker.stage("a") == events_pb2.COMPLETED and tracker.stage("b") == events_pb2.STYLED
    assert [s.stage for s in tracker.history("a")] == [
        events_pb2.SUBMITTED, events_pb2.SEGMENTED, events_pb2.STYLED, events_pb2.TRANSLATED, events_pb2.COMPLETED]


def test_a_failed_request_is_counted_against_its_tenant_once():
    projector, _, _ = _projector()
    failed = events_pb2.TryOnEvent(request_id="shop/r9", tenant="shop", stage=events_pb2.FAILED)
    failed.error.code = common_pb2.NO_GARMENT
    counter = TENANT_FAILURES.labels("shop", "events", "no_garment")
    before = counter._value.get()
    record = Record("tryon.failed", 0, 0, failed.SerializeToString(), b"shop/r9")
    projector.process([record])
    projector.process([Record("tryon.failed", 0, 1, failed.SerializeToString(), b"shop/r9")])  # redelivered
    assert counter._value.get() - before == 1
