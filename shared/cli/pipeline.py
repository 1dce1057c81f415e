"""The embedded try-on pipeline: the chain of docs/design.md §1 in one process.

It runs the services' own stage adapters, in the order :data:`fittingroom.chain.CHAIN`
declares, as the gateway's gRPC chain calls them (payloads inline up to
``FITTINGROOM_GRPC_INLINE_MAX_BYTES``, the rest in an in-memory object store): the
same stage boundaries, the same product cache (keyed by the product photo's sha256)
and the same per-request options as the distributed services, by construction. Only
the models are loaded here, once; a finished request's objects are dropped from memory.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from fittingroom.cache import LruCache
from fittingroom.chain import CHAIN
from fittingroom.compositing.adapter import CompositingStage
from fittingroom.garments import Garment, StyleLabel
from fittingroom.images import decode_image, encode_image
from fittingroom.pattern import Fabric
from fittingroom.registry import ModelManifest, ModelRegistry, available_style_classes
from fittingroom.results import result_manifest
from fittingroom.segmentation import model as segmentation_model
from fittingroom.segmentation.adapter import SegmentationStage
from fittingroom.segmentation.body import PoseEstimator
from fittingroom.segmentation.stage import product_garment, segment_garments
from fittingroom.serving.blobs import garment_from_ref, load_array
from fittingroom.serving.stage_base import BatchHandler, model_version
from fittingroom.settings import Settings
from fittingroom.storage import MemoryStore
from fittingroom.style import model as style_model
from fittingroom.style.adapter import StyleStage
from fittingroom.style.stage import classify_style, product_fabric, resolve_translation_key, style_classes
from fittingroom.tensors import get_object, has_tensor, put_object, request_key
from fittingroom.training import select_device, set_torch_threads
from fittingroom.translation import networks as translation_model
from fittingroom.translation.adapter import TranslationStage
from fittingroom.v1 import common_pb2, events_pb2


@dataclass
class StyleAnalysis:
    """What the style side of a try-on produced for one product photo."""

    garment: Garment
    label: StyleLabel
    translation_key: str
    fabric: Fabric | None = None


@dataclass
class TryOnResult:
    """The try-on image plus every intermediate a contact sheet or a test wants.

    ``png`` is the result as the compositing stage encoded it, what a service
    returns; ``image`` decodes it on first use only, so a caller that writes the
    PNG never pays a decode (about 20 ms at 1024×768).
    """

    png: bytes
    person_garment: Garment
    style: StyleAnalysis
    translation_input: np.ndarray
    translated: np.ndarray
    exact_colour: bool = False
    exact_pattern: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)  # fittingroom.results.result_manifest: models, steps, timings

    @cached_property
    def image(self) -> np.ndarray:
        """The result as an RGB array."""
        return decode_image(self.png, name="result")


class TryOnPipeline:
    """Loads the three models once and runs try-ons through the chain's stage adapters."""

    def __init__(self, registry: ModelRegistry, settings: Settings) -> None:
        self.settings = settings
        self.registry = registry
        self.device = select_device(settings.device)
        set_torch_threads(settings.torch_threads)
        self.segmenter, self.segmentation_manifest = segmentation_model.load_model(
            registry, settings.segmentation_model, self.device)
        self.classifier, self.style_manifest = style_model.load_model(registry, settings.style_model, self.device)
        self.style_colours, self.style_patterns = style_classes(self.style_manifest)
        self.pose_estimator = PoseEstimator(threads=max(1, settings.torch_threads)) if settings.body_prior else None
        self._generators: dict[str, object] = {}
        self._generator_manifests: dict[str, ModelManifest] = {}
        self._analyses: LruCache[StyleAnalysis] = LruCache(settings.style_cache_size)
        self.store = MemoryStore("requests")
        classes = available_style_classes(registry)
        self.stages: dict[str, BatchHandler] = {
            "segmentation": SegmentationStage(self.segmenter, self.store, settings, self.pose_estimator,
                                              device=self.device, models=[model_version(self.segmentation_manifest)]),
            "style": StyleStage(self.classifier, self.style_colours, self.style_patterns, classes, self.store, settings,
                                device=self.device, models=[model_version(self.style_manifest)]),
            "translation": TranslationStage(self.generator, classes, self.store, device=self.device,
                                            inline_max_bytes=settings.inline_max_bytes,
                                            precision=settings.translation_precision,
                                            models_for=lambda key: [model_version(self._generator_manifests[key])]),
            "compositing": CompositingStage(self.store, settings),
        }
        missing = {spec.name for spec in CHAIN} ^ set(self.stages)
        if missing:
            raise RuntimeError(f"the embedded pipeline does not match the chain: {sorted(missing)}")

    @property
    def translation_classes(self) -> list[str]:
        """Style classes with generators (what the style stage resolves labels to)."""
        return self.stages["style"].translation_classes

    @translation_classes.setter
    def translation_classes(self, classes: list[str]) -> None:
        self.stages["style"].translation_classes = list(classes)
        self.stages["translation"].available = list(classes)

    def generator(self, key: str):
        """The CycleGAN generator for a style class, loaded on first use."""
        if key not in self._generators:
            ref = translation_model.generator_ref(self.settings.translation_model, key)
            self._generators[key], self._generator_manifests[key] = translation_model.load_model(
                self.registry, ref, self.device)
        return self._generators[key]

    def analyse_style(self, style_image: np.ndarray) -> StyleAnalysis:
        """Steps 1–2 alone, with the stage functions (benchmarks and checks; cached by content)."""
        digest = hashlib.sha256(style_image.tobytes() + str(style_image.shape).encode()).hexdigest()
        cached = self._analyses.get(digest)
        if cached is not None:
            return cached
        garments = segment_garments(self.segmenter, style_image, score_threshold=self.settings.score_threshold,
                                    device=self.device, precision=self.settings.segmentation_precision)
        garment = product_garment(style_image, garments)
        label = classify_style(self.classifier, self.style_colours, self.style_patterns, style_image, garment,
                               device=self.device)
        key = resolve_translation_key(label, self.translation_classes, fallback=self.settings.style_fallback)
        analysis = StyleAnalysis(garment, label, key, product_fabric(style_image, garment, label))
        self._analyses.put(digest, analysis)
        return analysis

    def run(
        self,
        person_image: np.ndarray,
        style_image: np.ndarray,
        feather_px: float | None = None,
        exact_colour: bool | None = None,
        exact_pattern: bool | None = None,
    ) -> TryOnResult:
        """One try-on through every stage of the chain; a stage's typed error is raised as is."""
        event = self._request(person_image, style_image, feather_px, exact_colour, exact_pattern)
        try:
            for spec in CHAIN:
                event = self._step(spec.name, event)
            return self._result(event, person_image.shape[1], style_image.shape[1])
        finally:
            self.store.delete_prefix(f"requests/{event.request_id}/")

    def _request(self, person_image: np.ndarray, style_image: np.ndarray, feather_px: float | None,
                 exact_colour: bool | None, exact_pattern: bool | None) -> events_pb2.TryOnEvent:
        """The request event, with both photos as the gateway's gRPC chain carries uploads (inline up to its
        threshold).

        Lossless and uncompressed (PPM): encoding costs a copy, and the stages
        decode exactly the arrays they were given.
        """
        request_id = uuid.uuid4().hex
        created = Timestamp()
        created.GetCurrentTime()
        options = common_pb2.TryOnOptions(feather_px=feather_px or 0.0)
        if exact_colour is not None:
            options.exact_colour = exact_colour
        if exact_pattern is not None:
            options.exact_pattern = exact_pattern
        event = events_pb2.TryOnEvent(request_id=request_id, created=created, options=options,
                                      stage=events_pb2.SUBMITTED)
        for field_name, image in (("person_image", person_image), ("style_image", style_image)):
            key = request_key(request_id, "gateway", f"{field_name}.ppm")
            data = encode_image(image, fmt="ppm")
            getattr(event, field_name).CopyFrom(put_object(self.store, key, data, "image/x-portable-pixmap",
                                                           self.settings.grpc_inline_max_bytes))
        return event

    def _step(self, stage: str, event: events_pb2.TryOnEvent) -> events_pb2.TryOnEvent:
        outcome = self.stages[stage].handle_batch([event], self.settings.grpc_inline_max_bytes)[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _result(self, event: events_pb2.TryOnEvent, person_width: int, style_width: int) -> TryOnResult:
        """The completed event's objects: the result as encoded, the intermediates as arrays."""
        png = get_object(self.store, event.result)
        style = event.style
        fabric = None
        if has_tensor(style.product_fabric):
            fabric = Fabric(load_array(self.store, style.product_fabric, "fabric"), style.product_garment_width)
        label = StyleLabel(style.colour, style.pattern, style.confidence,
                           tuple(style.product_lab) if len(style.product_lab) == 3 else None)
        analysis = StyleAnalysis(
            garment_from_ref(self.store, event.style_garment, style_width, "style garment"),
            label, style.translation_key, fabric,
        )
        return TryOnResult(
            png=png,
            person_garment=garment_from_ref(self.store, event.person_garment, person_width, "person garment"),
            style=analysis,
            translation_input=load_array(self.store, event.translation_input, "translation input"),
            translated=load_array(self.store, event.translated, "translated garment"),
            exact_colour=event.exact_colour,
            exact_pattern=event.exact_pattern,
            timings_ms={t.stage: t.milliseconds for t in event.timings},
            manifest=result_manifest(event),
        )
