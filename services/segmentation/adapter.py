"""Segmentation stage over references: photos in, garments and the 256² crop out.

Segments the person photo (garment chosen by the request's policy) and the
product photo. Product-side results are cached by the photo's sha256, in memory
and as content-addressed masks, so a product tried by many shoppers is
segmented once per replica.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np
from torch import nn

from fittingroom.cache import LruCache
from fittingroom.crops import translation_input
from fittingroom.garments import Garment
from fittingroom.segmentation.body import PoseEstimator
from fittingroom.segmentation.stage import person_garment, product_garment, segment_garments_batch
from fittingroom.serving.blobs import garment_to_ref, load_image, save_array
from fittingroom.serving.metrics import CACHE_LOOKUPS
from fittingroom.serving.stage_base import add_timing, image_limits, option, per_event
from fittingroom.settings import Settings
from fittingroom.storage import ObjectStore
from fittingroom.tensors import request_key
from fittingroom.v1 import common_pb2, events_pb2

SERVICE = "segmentation"


class SegmentationStage:
    """Batch handler for ``tryon.requests`` → ``tryon.segmented``."""

    def __init__(
        self, model: nn.Module, store: ObjectStore, settings: Settings, pose_estimator: PoseEstimator | None = None
    ) -> None:
        self.model = model
        self.pose_estimator = pose_estimator
        self.store = store
        self.settings = settings
        self._style_cache: LruCache[common_pb2.GarmentRef] = LruCache(settings.style_cache_size)

    def handle_batch(self, events: Sequence[events_pb2.TryOnEvent]) -> list:
        started = time.perf_counter()
        limits = image_limits(self.settings)
        persons = per_event(events, lambda e: load_image(self.store, e.person_image, "person image", **limits))
        styles = per_event(events, lambda e: self._cached_style(e) or load_image(self.store, e.style_image, "style image", **limits))
        ok = [i for i in range(len(events)) if not isinstance(persons[i], BaseException) and not isinstance(styles[i], BaseException)]
        person_garments = self._segment({i: persons[i] for i in ok})
        style_garments = self._segment({i: styles[i] for i in ok if isinstance(styles[i], np.ndarray)})
        results: list = []
        for i, event in enumerate(events):
            failure = persons[i] if isinstance(persons[i], BaseException) else styles[i]
            if isinstance(failure, BaseException):
                results.append(failure)
                continue
            results.extend(per_event([event], lambda e: self._finish(e, persons[i], styles[i], person_garments[i], style_garments.get(i), started)))
        return results

    def _segment(self, images: dict[int, np.ndarray]) -> dict[int, list[Garment]]:
        """Segment a group of photos in one forward pass (persons and products apart)."""
        found = segment_garments_batch(self.model, list(images.values()), self.settings.score_threshold)
        return dict(zip(images, found))

    def _cached_style(self, event: events_pb2.TryOnEvent) -> common_pb2.GarmentRef | None:
        hit = self._style_cache.get(event.style_image.sha256)
        CACHE_LOOKUPS.labels(SERVICE, "hit" if hit else "miss").inc()
        return hit

    def _finish(self, event, person: np.ndarray, style, person_found: list[Garment], style_found, started: float):
        out = events_pb2.TryOnEvent()
        out.CopyFrom(event)
        style_ref = style if isinstance(style, common_pb2.GarmentRef) else self._style_ref(event, style, style_found)
        policy = option(event, "garment_policy", self.settings.garment_policy)
        pose = self.pose_estimator.estimate(person) if self.pose_estimator else None
        garment = person_garment(person, person_found, policy, style_ref.category, pose)
        rid = event.request_id
        out.person_garment.CopyFrom(garment_to_ref(self.store, request_key(rid, SERVICE, "person_mask.npy"), garment))
        out.translation_input.CopyFrom(
            save_array(self.store, request_key(rid, SERVICE, "translation_input.npy"), translation_input(person, garment))
        )
        out.style_garment.CopyFrom(style_ref)
        out.stage = events_pb2.SEGMENTED
        add_timing(out, SERVICE, started)
        return out

    def _style_ref(self, event: events_pb2.TryOnEvent, image: np.ndarray, found: list[Garment]) -> common_pb2.GarmentRef:
        digest = event.style_image.sha256
        garment = product_garment(image, found)
        key = f"cache/style/{digest}/mask.npy" if digest else request_key(event.request_id, SERVICE, "style_mask.npy")
        ref = garment_to_ref(self.store, key, garment)
        self._style_cache.put(digest, ref)
        return ref
