"""Consumer-lag gauge follows the partitions a worker currently owns."""

from kafka import TopicPartition
from prometheus_client import REGISTRY

from fittingroom.serving.metrics import record_consumer_lag


class _Consumer:
    def __init__(self, marks: dict[int, tuple[int, int]]) -> None:
        self.marks = {TopicPartition("tryon.styled", p): v for p, v in marks.items()}

    def assignment(self):
        return set(self.marks)

    def highwater(self, tp):
        return self.marks[tp][0]

    def position(self, tp):
        return self.marks[tp][1]


def _lag(partition: str):
    return REGISTRY.get_sample_value("fittingroom_kafka_consumer_lag",
                                     {"service": "unit", "topic": "tryon.styled", "partition": partition})


def test_lag_is_highwater_minus_position_and_revoked_partitions_disappear():
    record_consumer_lag("unit", _Consumer({0: (10, 4), 1: (7, 7)}))
    assert _lag("0") == 6 and _lag("1") == 0
    record_consumer_lag("unit", _Consumer({1: (9, 7)}))
    assert _lag("0") is None and _lag("1") == 2
