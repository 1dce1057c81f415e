"""What a stage adapter is: a batch handler over TryOnEvents, shared by both doors.

The Kafka worker hands it a polled batch; the gRPC servicer hands it a batch of
one built from its request. Either way the result per event is the enriched
event or the exception that failed it, so one bad request never fails a batch.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence, TypeVar

from fittingroom.colour import Lab
from fittingroom.serving.logs import request_context
from fittingroom.settings import Settings
from fittingroom.v1 import common_pb2, events_pb2

T = TypeVar("T")


def per_event(events: Sequence[events_pb2.TryOnEvent], fn: Callable[[events_pb2.TryOnEvent], T]) -> list["T | BaseException"]:
    """Apply ``fn`` to each event, keeping its exception in place of a result."""
    results: list = []
    for event in events:
        with request_context(event.request_id):
            try:
                results.append(fn(event))
            except Exception as exc:  # noqa: BLE001 - kept per event
                results.append(exc)
    return results


def add_timing(event: events_pb2.TryOnEvent, stage: str, started: float) -> None:
    event.timings.append(common_pb2.StageTiming(stage=stage, milliseconds=(time.perf_counter() - started) * 1000.0))


def image_limits(settings: Settings) -> dict[str, int]:
    return {"max_pixels": settings.max_image_pixels, "max_bytes": settings.max_image_bytes}


def option(event: events_pb2.TryOnEvent, name: str, default: T) -> T:
    """A per-request option, or the service's configured default when unset."""
    value = getattr(event.options, name)
    return value or default


def exact_colour_target(event: events_pb2.TryOnEvent, enabled_by_default: bool) -> Lab | None:
    """The product colour the exact-colour step moves the garment to, or ``None`` when off.

    The request's ``exact_colour`` option wins over the service's setting; a style
    label without a measured colour (an older producer) turns the step off.
    """
    enabled = switch(event, "exact_colour", enabled_by_default)
    lab = tuple(event.style.product_lab)
    return lab if enabled and len(lab) == 3 else None  # type: ignore[return-value]


def switch(event: events_pb2.TryOnEvent, name: str, default: bool) -> bool:
    """A per-request on/off option (``optional bool``): the request's value when set, else ``default``."""
    return getattr(event.options, name) if event.options.HasField(name) else default
