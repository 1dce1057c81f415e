"""Segmentation stage over references: photos in, garments and the 256² crop out.

Segments the person photo (garment chosen by the request's policy) and the
product photo. Product-side results are cached by the photo's sha256, in memory
and as content-addressed masks, so a product tried by many shoppers is
segmented once per replica.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from fittingroom.cache import LruCache
from fittingroom.crops import translation_input
from fittingroom.garments import Garment
from fittingroom.segmentation.body import PoseEstimator
from fittingroom.segmentation.stage import (drop_detections_below, person_garment, product_garment,
                                            segment_garments_batch)
from fittingroom.serving.blobs import garment_to_ref, load_image, save_array, storage_errors
from fittingroom.serving.metrics import CACHE_LOOKUPS
from fittingroom.serving.stage_base import Batch, add_timing, models_tag, option, record_models
from fittingroom.settings import Settings
from fittingroom.storage import ObjectStore
from fittingroom.tensors import request_key, style_cache_key, tensor_present
from fittingroom.v1 import common_pb2, events_pb2

SERVICE = "segmentation"


@dataclass(frozen=True)
class _Photos:
    """A request's person photo, and its product as a photo or (cached) as its garment."""

    person: np.ndarray
    style: np.ndarray | common_pb2.GarmentRef


@dataclass(frozen=True)
class _Found:
    """Garments found on the person and, for a new product, on the product photo."""

    photos: _Photos
    on_person: list[Garment]
    on_product: list[Garment] | None


class SegmentationStage:
    """Batch handler for ``tryon.requests`` → ``tryon.segmented``."""

    def __init__(
        self, model: nn.Module, store: ObjectStore, settings: Settings, pose_estimator: PoseEstimator | None = None,
        *, device: torch.device | str, models: Sequence[common_pb2.ModelVersion] = (),
    ) -> None:
        self.model = drop_detections_below(model, settings.score_threshold)
        self.models = list(models)  # the registry versions this stage runs, recorded on every result
        self._cache_tag = models_tag(self.models)
        self.device = device
        self.pose_estimator = pose_estimator
        self.store = store
        self.settings = settings
        self._style_cache: LruCache[common_pb2.GarmentRef] = LruCache(settings.style_cache_size)

    def handle_batch(self, events: Sequence[events_pb2.TryOnEvent], inline_max_bytes: int | None = None) -> list:
        """Load the photos, segment persons and new products in one forward pass each, store the results."""
        started = time.perf_counter()
        inline_max = self.settings.inline_max_bytes if inline_max_bytes is None else inline_max_bytes
        return (
            Batch.of(events)
            .map(lambda event, _: self._photos(event))
            .map_together(self._segment_all)
            .map(lambda event, found: self._finish(event, found, started, inline_max))
            .results()
        )

    def _photos(self, event: events_pb2.TryOnEvent) -> "_Photos":
        limits = self.settings.image_limits()
        person = load_image(self.store, event.person_image, "person image", **limits)
        style = self._cached_style(event) or load_image(self.store, event.style_image, "style image", **limits)
        return _Photos(person, style)

    def _segment_all(self, photos: list["_Photos"]) -> list["_Found"]:
        """Garments of every person, and of every product not in the cache (persons and products apart)."""
        threshold = self.settings.score_threshold
        precision = self.settings.segmentation_precision
        persons = segment_garments_batch(self.model, [p.person for p in photos], threshold, device=self.device,
                                         precision=precision)
        new = [p.style for p in photos if isinstance(p.style, np.ndarray)]
        products = iter(segment_garments_batch(self.model, new, threshold, device=self.device, precision=precision)
                        if new else [])
        return [_Found(p, on_person, next(products) if isinstance(p.style, np.ndarray) else None)
                for p, on_person in zip(photos, persons)]

    def _cached_style(self, event: events_pb2.TryOnEvent) -> common_pb2.GarmentRef | None:
        # The bucket's lifecycle rule may have expired the cached mask: then segment again.
        with storage_errors("cached product mask"):
            hit = self._style_cache.get_valid(event.style_image.sha256, lambda ref: tensor_present(self.store, ref.mask))
        CACHE_LOOKUPS.labels(SERVICE, "hit" if hit else "miss").inc()
        return hit

    def _finish(self, event: events_pb2.TryOnEvent, found: "_Found", started: float,
                inline_max: int) -> events_pb2.TryOnEvent:
        out = events_pb2.TryOnEvent()
        out.CopyFrom(event)
        person, style = found.photos.person, found.photos.style
        style_ref = style if isinstance(style, common_pb2.GarmentRef) else self._style_ref(event, style, found.on_product)
        policy = option(event, "garment_policy", self.settings.garment_policy)
        pose = self.pose_estimator.estimate(person) if self.pose_estimator else None
        garment = person_garment(person, found.on_person, policy, style_ref.category, pose)
        rid = event.request_id
        out.person_garment.CopyFrom(
            garment_to_ref(self.store, request_key(rid, SERVICE, "person_mask.npy"), garment, inline_max))
        out.translation_input.CopyFrom(save_array(
            self.store, request_key(rid, SERVICE, "translation_input.npy"), translation_input(person, garment), inline_max))
        out.style_garment.CopyFrom(style_ref)
        record_models(out, self.models)
        out.stage = events_pb2.SEGMENTED
        add_timing(out, SERVICE, started)
        return out

    def _style_ref(self, event: events_pb2.TryOnEvent, image: np.ndarray, found: list[Garment]) -> common_pb2.GarmentRef:
        digest = event.style_image.sha256
        garment = product_garment(image, found)
        key = style_cache_key(digest, self._cache_tag, "mask.npy") if digest else request_key(event.request_id, SERVICE, "style_mask.npy")
        ref = garment_to_ref(self.store, key, garment, self.settings.inline_max_bytes)
        self._style_cache.put(digest, ref)
        return ref
