"""Style stage over references: product photo + garment in, style label out.

Labels (with the product's measured colour and, for patterned products, a
reference to a square of its fabric) are cached by the product photo's sha256:
the same product classified for many shoppers costs one forward pass per replica.
"""

from __future__ import annotations

import time
from typing import Sequence

from fittingroom.cache import LruCache
from fittingroom.garments import StyleLabel
from fittingroom.serving.blobs import garment_from_ref, load_image, save_array
from fittingroom.serving.metrics import CACHE_LOOKUPS
from fittingroom.serving.stage_base import add_timing, image_limits, option, per_event
from fittingroom.settings import Settings
from fittingroom.storage import ObjectStore
from fittingroom.style.model import StyleNet
from fittingroom.style.stage import classify_style_batch, product_fabric, resolve_translation_key
from fittingroom.tensors import request_key
from fittingroom.v1 import common_pb2, events_pb2

SERVICE = "style"
# A stored fabric square and the product garment's width in pixels.
FabricRef = tuple[common_pb2.TensorRef, float]


class StyleStage:
    """Batch handler for ``tryon.segmented`` → ``tryon.styled``."""

    def __init__(self, model: StyleNet, colours: list[str], patterns: list[str],
                 translation_classes: list[str], store: ObjectStore, settings: Settings) -> None:
        self.model = model
        self.colours = colours
        self.patterns = patterns
        self.translation_classes = translation_classes
        self.store = store
        self.settings = settings
        self._cache: LruCache[tuple[StyleLabel, FabricRef | None]] = LruCache(settings.style_cache_size)

    def handle_batch(self, events: Sequence[events_pb2.TryOnEvent]) -> list:
        started = time.perf_counter()
        labels = per_event(events, self._cached)
        misses = [i for i, label in enumerate(labels) if label is None]
        loaded = per_event([events[i] for i in misses], self._load)
        ready = [(i, pair) for i, pair in zip(misses, loaded) if not isinstance(pair, BaseException)]
        for i, pair in zip(misses, loaded):
            labels[i] = pair if isinstance(pair, BaseException) else None
        if ready:
            images, garments = zip(*(pair for _, pair in ready))
            classified = classify_style_batch(self.model, self.colours, self.patterns, images, garments)
            for (i, (image, garment)), label in zip(ready, classified):
                described = per_event([events[i]], lambda e: (label, self._fabric_ref(e, image, garment, label)))[0]
                labels[i] = described
                if not isinstance(described, BaseException):
                    self._cache.put(events[i].style_image.sha256, described)
        results = []
        for event, label in zip(events, labels):
            if isinstance(label, BaseException):
                results.append(label)
            else:
                results.extend(per_event([event], lambda e: self._finish(e, label, started)))
        return results

    def _cached(self, event: events_pb2.TryOnEvent) -> tuple[StyleLabel, FabricRef | None] | None:
        hit = self._cache.get(event.style_image.sha256)
        CACHE_LOOKUPS.labels(SERVICE, "hit" if hit else "miss").inc()
        return hit

    def _fabric_ref(self, event: events_pb2.TryOnEvent, image, garment, label: StyleLabel) -> FabricRef | None:
        """Store a patterned product's fabric square (content-addressed); ``None`` for solids."""
        fabric = product_fabric(image, garment, label)
        if fabric is None:
            return None
        digest = event.style_image.sha256
        key = f"cache/style/{digest}/fabric.npy" if digest else request_key(event.request_id, SERVICE, "fabric.npy")
        ref = save_array(self.store, key, fabric.patch)
        return ref, fabric.garment_width

    def _load(self, event: events_pb2.TryOnEvent):
        image = load_image(self.store, event.style_image, "style image", **image_limits(self.settings))
        return image, garment_from_ref(self.store, event.style_garment, image.shape[1], "style garment mask")

    def _finish(self, event: events_pb2.TryOnEvent, described, started: float) -> events_pb2.TryOnEvent:
        label, fabric = described
        fallback = option(event, "style_fallback", self.settings.style_fallback)
        key = resolve_translation_key(label, self.translation_classes, fallback=fallback)
        out = events_pb2.TryOnEvent()
        out.CopyFrom(event)
        out.style.CopyFrom(common_pb2.StyleLabel(
            colour=label.colour, pattern=label.pattern, confidence=label.confidence, key=label.key, translation_key=key,
            product_lab=label.product_lab or (),
        ))
        if fabric is not None:
            out.style.product_fabric.CopyFrom(fabric[0])
            out.style.product_garment_width = fabric[1]
        out.stage = events_pb2.STYLED
        add_timing(out, SERVICE, started)
        return out
