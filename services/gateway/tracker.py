"""Request status as the gateway sees it: each request's stages, moving only forward.

Fed by the status view (``tryon.status``, every replica reads all of it) and by
the replica's own ``Submit``; the status projector asks it whether an event
moves a request forward before publishing it (``status_feed``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict

from google.protobuf.timestamp_pb2 import Timestamp

from fittingroom.v1 import common_pb2, events_pb2, tryon_pb2

FINAL = (events_pb2.COMPLETED, events_pb2.FAILED)


def advances(current: int | None, stage: int) -> bool:
    """Whether ``stage`` moves a request at ``current`` (``None``: unknown) forward.

    Redelivered, late and repeated events do not: a stage never goes back and a
    final state (completed or failed) is never left.
    """
    return current is None or (current not in FINAL and stage > current)


def tenant_of_request(request_id: str) -> str:
    """The tenant part of a stored request id ``<tenant>/<id>`` ("" for an id without one)."""
    tenant, slash, _ = request_id.partition("/")
    return tenant if slash else ""


def shop_style(style: common_pb2.StyleLabel) -> common_pb2.StyleLabel:
    """The style label as shops see it: without the product's fabric.

    The fabric is the stages' working data (a tensor of up to
    ``FITTINGROOM_INLINE_MAX_BYTES`` when inline), not something to keep in
    ``tryon.status``, send on every ``Watch`` update or return from ``TryOn``.
    """
    shown = common_pb2.StyleLabel()
    shown.CopyFrom(style)
    shown.ClearField("product_fabric")
    return shown


def status_of(event: events_pb2.TryOnEvent) -> tryon_pb2.TryOnStatus:
    """The status an event reports, stamped now."""
    updated = Timestamp()
    updated.GetCurrentTime()
    return tryon_pb2.TryOnStatus(
        request_id=event.request_id, stage=event.stage, result=event.result, style=shop_style(event.style),
        error=event.error, timings=event.timings, updated=updated, models=event.models,
        result_manifest=event.result_manifest,
    )


class StatusTracker:
    """In-memory, bounded map of request id → latest status, with waiters."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._statuses: OrderedDict[str, tryon_pb2.TryOnStatus] = OrderedDict()
        self._history: dict[str, list[tryon_pb2.TryOnStatus]] = {}
        self._open: defaultdict[str, int] = defaultdict(int)
        self._changed = threading.Condition()

    def record(self, status: tryon_pb2.TryOnStatus) -> bool:
        """Apply a status; False when it does not move its request forward (see :func:`advances`)."""
        with self._changed:
            current = self._statuses.get(status.request_id)
            if not advances(current.stage if current is not None else None, status.stage):
                return False
            history = self._history.setdefault(status.request_id, [])
            if status.stage != events_pb2.FAILED:
                history.extend(self._skipped(current, status))
            history.append(status)
            self._count_open(current, status.request_id, -1)
            self._statuses[status.request_id] = status
            self._count_open(status, status.request_id, +1)
            self._statuses.move_to_end(status.request_id)
            while len(self._statuses) > self.capacity:
                old, evicted = self._statuses.popitem(last=False)
                self._count_open(evicted, old, -1)
                self._history.pop(old, None)
            self._changed.notify_all()
        return True

    def _count_open(self, status: tryon_pb2.TryOnStatus | None, request_id: str, change: int) -> None:
        """Keep the per-tenant count of requests not yet final (caller holds the lock)."""
        if status is not None and status.stage not in FINAL:
            self._open[tenant_of_request(request_id)] += change

    def open_count(self, tenant: str) -> int:
        """How many of the tenant's requests are known here and not final yet."""
        with self._changed:
            return self._open[tenant]

    def stage(self, request_id: str) -> int | None:
        """The request's current stage, ``None`` if unknown here."""
        with self._changed:
            current = self._statuses.get(request_id)
            return current.stage if current is not None else None

    @staticmethod
    def _skipped(current: tryon_pb2.TryOnStatus | None, status: tryon_pb2.TryOnStatus) -> list[tryon_pb2.TryOnStatus]:
        """Stages a later event implies but whose own event has not arrived yet.

        Progress topics are read together, and a compacted ``tryon.status`` keeps
        only a request's latest status; the envelope accumulates fields, so a later
        status proves the earlier stages happened and Watch still streams every stage in order.
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
