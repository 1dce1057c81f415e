"""Style stage over references: product photo + garment in, style label out.

Labels (with the product's measured colour and, for patterned products, a
reference to a square of its fabric) are cached by the product photo's sha256:
the same product classified for many shoppers costs one forward pass per replica.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from fittingroom.cache import LruCache
from fittingroom.garments import Garment, StyleLabel
from fittingroom.serving.blobs import garment_from_ref, load_image, save_array, storage_errors
from fittingroom.serving.metrics import CACHE_LOOKUPS
from fittingroom.serving.stage_base import Batch, add_timing, models_tag, option, record_models
from fittingroom.settings import Settings
from fittingroom.storage import ObjectStore
from fittingroom.style.model import StyleNet
from fittingroom.style.stage import classify_style_batch, product_fabric, resolve_translation_key
from fittingroom.tensors import request_key, style_cache_key, tensor_present
from fittingroom.v1 import common_pb2, events_pb2

SERVICE = "style"
# A stored fabric square and the product garment's width in pixels.
FabricRef = tuple[common_pb2.TensorRef, float]
# What the stage knows about a product: its label and, for patterns, its fabric.
Described = tuple[StyleLabel, "FabricRef | None"]


@dataclass(frozen=True)
class _Product:
    """A product photo not seen before, with its garment, waiting to be classified."""

    image: np.ndarray
    garment: Garment


class StyleStage:
    """Batch handler for ``tryon.segmented`` → ``tryon.styled``."""

    def __init__(self, model: StyleNet, colours: list[str], patterns: list[str],
                 translation_classes: list[str], store: ObjectStore, settings: Settings, *,
                 device: torch.device | str, models: Sequence[common_pb2.ModelVersion] = ()) -> None:
        self.model = model
        self.models = list(models)  # the registry versions this stage runs, recorded on every result
        self.device = device
        self.colours = colours
        self.patterns = patterns
        self.translation_classes = translation_classes
        self.store = store
        self.settings = settings
        self._cache: LruCache[Described] = LruCache(settings.style_cache_size)

    def handle_batch(self, events: Sequence[events_pb2.TryOnEvent], inline_max_bytes: int | None = None) -> list:
        """Cached labels for known products; the new ones classified in one forward pass.

        It makes nothing for a request alone (the fabric is cached per product, under the
        event threshold), so the door's ``inline_max_bytes`` does not apply.
        """
        started = time.perf_counter()
        return (
            Batch.of(events)
            .map(lambda event, _: self._cached(event) or self._load(event))
            .map_together(self._classify_new)
            .map(self._describe)
            .map(lambda event, described: self._finish(event, described, started))
            .results()
        )

    def _classify_new(self, found: list) -> list:
        """Each loaded :class:`_Product` with its label; cached descriptions pass through."""
        new = [item for item in found if isinstance(item, _Product)]
        labels = iter(classify_style_batch(self.model, self.colours, self.patterns,
                                           [p.image for p in new], [p.garment for p in new], device=self.device) if new else [])
        return [(item, next(labels)) if isinstance(item, _Product) else item for item in found]

    def _describe(self, event: events_pb2.TryOnEvent, item) -> Described:
        """A new product's label with its stored fabric, remembered for the next shopper."""
        if not isinstance(item[0], _Product):
            return item
        product, label = item
        described = (label, self._fabric_ref(event, product.image, product.garment, label))
        self._cache.put(event.style_image.sha256, described)
        return described

    def _cached(self, event: events_pb2.TryOnEvent) -> Described | None:
        # The bucket's lifecycle rule may have expired the cached fabric: then classify again.
        with storage_errors("cached product fabric"):
            hit = self._cache.get_valid(event.style_image.sha256,
                                        lambda described: described[1] is None or tensor_present(self.store, described[1][0]))
        CACHE_LOOKUPS.labels(SERVICE, "hit" if hit else "miss").inc()
        return hit

    def _fabric_ref(self, event: events_pb2.TryOnEvent, image, garment, label: StyleLabel) -> FabricRef | None:
        """Store a patterned product's fabric square (content-addressed); ``None`` for solids."""
        fabric = product_fabric(image, garment, label)
        if fabric is None:
            return None
        digest = event.style_image.sha256
        # The fabric depends on the product mask (segmentation's models) and the label (this stage's).
        tag = models_tag([*event.models, *self.models])
        key = style_cache_key(digest, tag, "fabric.npy") if digest else request_key(event.request_id, SERVICE, "fabric.npy")
        ref = save_array(self.store, key, fabric.patch, self.settings.inline_max_bytes)
        return ref, fabric.garment_width

    def _load(self, event: events_pb2.TryOnEvent) -> "_Product":
        image = load_image(self.store, event.style_image, "style image", **self.settings.image_limits())
        return _Product(image, garment_from_ref(self.store, event.style_garment, image.shape[1], "style garment mask"))

    def _finish(self, event: events_pb2.TryOnEvent, described: Described, started: float) -> events_pb2.TryOnEvent:
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
        record_models(out, self.models)
        out.stage = events_pb2.STYLED
        add_timing(out, SERVICE, started)
        return out
