"""Compositing stage over references: photo, garment and translation in, result PNG out."""

from __future__ import annotations

import time
from typing import Sequence

from fittingroom.compositing.stage import composite_garment
from fittingroom.serving.blobs import garment_from_ref, load_array, load_image, save_png, storage_errors
from fittingroom.pattern import Fabric
from fittingroom.results import MANIFEST_NAME, encode_manifest, result_manifest
from fittingroom.serving.stage_base import (
    Batch, add_timing, exact_colour_target, option, switch,
)
from fittingroom.settings import Settings
from fittingroom.storage import ObjectStore
from fittingroom.tensors import put_object, request_key
from fittingroom.v1 import events_pb2

SERVICE = "compositing"


class CompositingStage:
    """Batch handler for ``tryon.translated`` → ``tryon.completed``."""

    def __init__(self, store: ObjectStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def handle_batch(self, events: Sequence[events_pb2.TryOnEvent], inline_max_bytes: int | None = None) -> list:
        """Composite each request; its result is always stored (what the shop fetches), whatever the door."""
        return Batch.of(events).map(lambda event, _: self._one(event)).results()

    def _one(self, event: events_pb2.TryOnEvent) -> events_pb2.TryOnEvent:
        started = time.perf_counter()
        person = load_image(self.store, event.person_image, "person image", **self.settings.image_limits())
        garment = garment_from_ref(self.store, event.person_garment, person.shape[1], "person garment mask")
        translated = load_array(self.store, event.translated, "translated garment")
        feather = option(event, "feather_px", self.settings.feather_px)
        target = exact_colour_target(event, self.settings.exact_colour)
        fabric = self._fabric(event)
        result = composite_garment(person, garment, translated, feather, target, fabric)
        out = events_pb2.TryOnEvent()
        out.CopyFrom(event)
        out.exact_colour = target is not None
        out.exact_pattern = fabric is not None
        out.result.CopyFrom(save_png(self.store, event.request_id, SERVICE, "result.png", result))
        out.stage = events_pb2.COMPLETED
        add_timing(out, SERVICE, started)
        with storage_errors(MANIFEST_NAME):
            out.result_manifest.CopyFrom(put_object(
                self.store, request_key(event.request_id, SERVICE, MANIFEST_NAME),
                encode_manifest(result_manifest(out)), "application/json"))
        return out

    def _fabric(self, event: events_pb2.TryOnEvent) -> Fabric | None:
        """The product's fabric when the exact-pattern step runs for this request."""
        if not switch(event, "exact_pattern", self.settings.exact_pattern) or not event.style.HasField("product_fabric"):
            return None
        patch = load_array(self.store, event.style.product_fabric, "product fabric")
        return Fabric(patch, event.style.product_garment_width)
