"""Noticing a group member stuck inside its Kafka client, so that it can be replaced.

After a broker restart a member was seen to poll on and on, getting nothing,
while committed records waited on the partitions of its group: no error, no
pause, the chain silently stalled. A client cannot be unstuck from outside, but
it can be told from an idle one: an idle member has nothing waiting for it. So
a member whose polls return nothing checks, at most once per ``interval_s``,
which partitions hold committed records it should be reading; when the same
partitions still wait at the same offsets one interval later, with nothing
returned in between, it is stuck, and :class:`~fittingroom.bus.BatchConsumer`
replaces its client (a new member of the same group; the partitions rebalance).
"""

from __future__ import annotations

import time

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

# How often an idle member checks for waiting records; a stuck one is replaced after
# one to two of these. Longer than any batch takes, so a busy neighbour is not taken
# for a stuck one.
STALL_CHECK_S = 60.0
# A committed transaction ends with a commit marker after its last record, so a
# group's committed offset stays one short of the partition's end when idle.
COMMIT_MARKER = 1
# The longest one of the check's requests may take (a stuck client may not answer).
QUERY_TIMEOUT_MS = 10_000


def waiting_partitions(consumer: KafkaConsumer) -> dict[TopicPartition, int]:
    """Partitions with committed records this member should be reading, each with the offset it stands at.

    With an assignment: its partitions whose end (the last stable offset, as the
    consumer reads committed records only) lies past its position. With none,
    while subscribed: the subscribed partitions whose end lies past the group's
    committed offset by more than a commit marker.
    """
    assigned = consumer.assignment()
    if assigned:
        ends = consumer.end_offsets(list(assigned), timeout_ms=QUERY_TIMEOUT_MS)
        positions = {tp: consumer.position(tp, timeout_ms=QUERY_TIMEOUT_MS) for tp in assigned}
        return {tp: position for tp, position in positions.items()
                if position is not None and ends.get(tp, 0) > position}
    partitions = [TopicPartition(topic, partition) for topic in consumer.subscription() or ()
                  for partition in consumer.partitions_for_topic(topic) or ()]
    if not partitions:
        return {}
    ends = consumer.end_offsets(partitions, timeout_ms=QUERY_TIMEOUT_MS)
    waiting = {}
    for tp in partitions:
        committed = consumer.committed(tp, timeout_ms=QUERY_TIMEOUT_MS) or 0
        if ends.get(tp, 0) > committed + COMMIT_MARKER:
            waiting[tp] = committed
    return waiting


class ProgressWatch:
    """Tells a stuck member from an idle one by what waits for it (see the module docstring)."""

    def __init__(self, interval_s: float = STALL_CHECK_S) -> None:
        self.interval_s = interval_s
        self.checked = time.monotonic()
        self.suspect: dict[TopicPartition, int] = {}
        self.checks = 0

    def progressed(self) -> None:
        """Records came back: the member is not stuck."""
        self.checked = time.monotonic()
        self.suspect = {}

    def stuck(self, consumer: KafkaConsumer) -> bool:
        """After an empty poll: whether records still wait where they waited one interval ago."""
        if time.monotonic() - self.checked < self.interval_s:
            return False
        self.checked = time.monotonic()
        self.checks += 1
        waiting = waiting_partitions(consumer)
        stuck = any(self.suspect.get(tp) == offset for tp, offset in waiting.items())
        self.suspect = {} if stuck else waiting
        return stuck
