"""The embedded try-on pipeline: the method of docs/design.md §1 in one process.

It only wires the pure stage functions of the four services together and keeps
the models loaded; the distributed gateway runs the same stages over gRPC/Kafka.
Style-side work (segmenting and classifying a product photo) is cached by the
photo's content hash, because many shoppers try the same product.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np

from fittingroom.cache import LruCache
from fittingroom.compositing.stage import composite_garment
from fittingroom.crops import translation_input
from fittingroom.garments import Garment, StyleLabel
from fittingroom.pattern import Fabric
from fittingroom.registry import ModelRegistry
from fittingroom.segmentation import model as segmentation_model
from fittingroom.segmentation.body import PoseEstimator
from fittingroom.segmentation.stage import person_garment, product_garment, segment_garments
from fittingroom.settings import Settings
from fittingroom.style import model as style_model
from fittingroom.style.stage import (
    classify_style, product_fabric, resolve_translation_key, style_classes,
)
from fittingroom.training import select_device, set_torch_threads
from fittingroom.registry import available_style_classes
from fittingroom.translation import networks as translation_model
from fittingroom.translation.stage import translate_garment


@dataclass
class StyleAnalysis:
    """What the style side of a try-on produced for one product photo."""

    garment: Garment
    label: StyleLabel
    translation_key: str
    fabric: Fabric | None = None


@dataclass
class TryOnResult:
    """The try-on image plus every intermediate a contact sheet or a test wants."""

    image: np.ndarray
    person_garment: Garment
    style: StyleAnalysis
    translation_input: np.ndarray
    translated: np.ndarray
    exact_colour: bool = False
    exact_pattern: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)


class _Timer:
    def __init__(self) -> None:
        self.timings_ms: dict[str, float] = {}

    def measure(self, name: str, fn, *args, **kwargs):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        self.timings_ms[name] = (time.perf_counter() - start) * 1000.0
        return result


class TryOnPipeline:
    """Loads the three models once and runs try-ons on decoded RGB arrays."""

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
        self.translation_classes = available_style_classes(registry)
        self._generators: dict[str, object] = {}
        self._style_cache: LruCache[StyleAnalysis] = LruCache(settings.style_cache_size)

    def generator(self, key: str):
        """The CycleGAN generator for a style class, loaded on first use."""
        if key not in self._generators:
            ref = translation_model.generator_ref(self.settings.translation_model, key)
            self._generators[key] = translation_model.load_model(self.registry, ref, self.device)[0]
        return self._generators[key]

    def analyse_style(self, style_image: np.ndarray) -> StyleAnalysis:
        """Steps 1–2: segment the product garment and pick its translation class (cached)."""
        digest = hashlib.sha256(style_image.tobytes() + str(style_image.shape).encode()).hexdigest()
        cached = self._style_cache.get(digest)
        if cached is not None:
            return cached
        garments = segment_garments(self.segmenter, style_image, score_threshold=self.settings.score_threshold)
        garment = product_garment(style_image, garments)
        label = classify_style(self.classifier, self.style_colours, self.style_patterns, style_image, garment)
        key = resolve_translation_key(label, self.translation_classes, fallback=self.settings.style_fallback)
        fabric = product_fabric(style_image, garment, label)
        analysis = StyleAnalysis(garment=garment, label=label, translation_key=key, fabric=fabric)
        self._style_cache.put(digest, analysis)
        return analysis

    def run(
        self,
        person_image: np.ndarray,
        style_image: np.ndarray,
        feather_px: float | None = None,
        exact_colour: bool | None = None,
        exact_pattern: bool | None = None,
    ) -> TryOnResult:
        """Steps 1–10 of the method (plus the exact-colour step) on one person photo and one product photo."""
        timer = _Timer()
        style = timer.measure("style", self.analyse_style, style_image)
        garments = timer.measure(
            "segmentation", segment_garments, self.segmenter, person_image, self.settings.score_threshold
        )
        pose = timer.measure("body_prior", self.pose_estimator.estimate, person_image) if self.pose_estimator else None
        garment = person_garment(person_image, garments, self.settings.garment_policy, style.garment.category, pose)
        square = translation_input(person_image, garment)
        generator = self.generator(style.translation_key)
        translated = timer.measure("translation", translate_garment, generator, square)
        feather = self.settings.feather_px if feather_px is None else feather_px
        exact = self.settings.exact_colour if exact_colour is None else exact_colour
        target = style.label.product_lab if exact else None
        use_fabric = self.settings.exact_pattern if exact_pattern is None else exact_pattern
        fabric = style.fabric if use_fabric else None
        image = timer.measure(
            "compositing", composite_garment, person_image, garment, translated, feather, target, fabric
        )
        return TryOnResult(
            image=image,
            person_garment=garment,
            style=style,
            translation_input=square,
            translated=translated,
            exact_colour=target is not None,
            exact_pattern=fabric is not None,
            timings_ms=timer.timings_ms,
        )
