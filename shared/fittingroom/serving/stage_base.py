"""What a stage adapter is: a batch handler over TryOnEvents, shared by both doors.

The Kafka worker hands it a polled batch; the gRPC servicer hands it a batch of
one built from its request. Either way the result per event is the enriched
event or the exception that failed it, so one bad request never fails a batch.
:class:`Batch` carries those per-event outcomes through an adapter's steps.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Generic, Hashable, Iterable, Protocol, Sequence, TypeVar

from fittingroom.serving.logs import request_context
from fittingroom.v1 import common_pb2, events_pb2

if TYPE_CHECKING:
    # A type name only: importing fittingroom.colour loads OpenCV (~40 MB resident) into
    # every process that runs a worker or a servicer, the gateway included, which needs none.
    from fittingroom.colour import Lab
    from fittingroom.registry import ModelManifest

T = TypeVar("T")
U = TypeVar("U")
Event = events_pb2.TryOnEvent


class BatchHandler(Protocol):
    """What both doors of a stage call: one outcome per event, in event order.

    ``inline_max_bytes`` is the door's claim-check threshold for what the stage
    makes for these requests alone (masks, crops): the gRPC door passes the gateway
    chain's, under which payloads travel inside the calls; ``None`` (the Kafka
    worker) means the stage's own setting for events. What the stage caches for
    later requests (a product's mask and fabric) always uses the event threshold,
    since a later request may travel through Kafka.
    """

    def handle_batch(self, events: Sequence[Event], inline_max_bytes: int | None = None) -> list[Event | Exception]: ...


@dataclass
class Batch(Generic[T]):
    """Per-event outcomes of one batch, in event order: a value, or the exception that failed it.

    Each step maps the successes and keeps failures in place, so an adapter reads
    as its steps; no index juggling, no ``isinstance`` checks.
    """

    events: Sequence[Event]
    outcomes: list

    @classmethod
    def of(cls, events: Sequence[Event]) -> "Batch[Event]":
        return cls(events, list(events))

    def _succeeded(self) -> list[int]:
        return [i for i, outcome in enumerate(self.outcomes) if not isinstance(outcome, Exception)]

    def map(self, fn: Callable[[Event, T], U]) -> "Batch[U]":
        """``fn(event, value)`` for each success, in its request's log context; a raise fails that event."""
        outcomes = list(self.outcomes)
        for i in self._succeeded():
            with request_context(self.events[i].request_id):
                try:
                    outcomes[i] = fn(self.events[i], outcomes[i])
                except Exception as exc:  # noqa: BLE001 - kept per event
                    outcomes[i] = exc
        return Batch(self.events, outcomes)

    def map_together(self, fn: Callable[[list[T]], Sequence[U]]) -> "Batch[U]":
        """``fn`` once over every success (one forward pass); a raise fails all of them."""
        return self.map_groups(lambda _event, _value: None, lambda _key, values: fn(values))

    def map_groups(self, key: Callable[[Event, T], Hashable], fn: Callable[[Hashable, list[T]], Sequence[U]]) -> "Batch[U]":
        """``fn(key, values)`` once per group of successes sharing ``key``; a raise fails that group only."""
        groups: dict[Hashable, list[int]] = defaultdict(list)
        for i in self._succeeded():
            groups[key(self.events[i], self.outcomes[i])].append(i)
        outcomes = list(self.outcomes)
        for group_key, indices in groups.items():
            try:
                results = list(fn(group_key, [self.outcomes[i] for i in indices]))
                if len(results) != len(indices):
                    raise RuntimeError(f"batch step returned {len(results)} results for {len(indices)} inputs")
            except Exception as exc:  # noqa: BLE001 - fails this group only
                results = [exc] * len(indices)
            for i, result in zip(indices, results):
                outcomes[i] = result
        return Batch(self.events, outcomes)

    def results(self) -> list:
        """The outcomes: a value or an exception per event, in event order."""
        return list(self.outcomes)


def add_timing(event: events_pb2.TryOnEvent, stage: str, started: float) -> None:
    event.timings.append(common_pb2.StageTiming(stage=stage, milliseconds=(time.perf_counter() - started) * 1000.0))


def model_version(manifest: "ModelManifest") -> common_pb2.ModelVersion:
    """The registry version a loaded model came from, as results record it."""
    return common_pb2.ModelVersion(kind=manifest.kind, name=manifest.name, version=manifest.version,
                                   sha256=manifest.sha256)


def record_models(event: events_pb2.TryOnEvent, models: Iterable[common_pb2.ModelVersion]) -> None:
    """Add the models a stage ran to the event (each once: a redelivered event is recomputed from its input)."""
    event.models.extend(models)


def models_tag(models: Iterable[common_pb2.ModelVersion]) -> str:
    """A short name for a set of model versions, for cache keys that a new model version must not share."""
    lines = sorted(f"{m.kind}/{m.name}/{m.version}/{m.sha256}" for m in models)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


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
