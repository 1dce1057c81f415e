"""Translation stage over references: 256² garment in, translated 256² garment out.

Requests in a batch are grouped by style class so each generator runs once per
batch; generators are loaded on first use and kept warm.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from fittingroom.errors import UnknownStyleError
from fittingroom.serving.blobs import load_array, save_array
from fittingroom.serving.stage_base import Batch, add_timing, record_models
from fittingroom.storage import ObjectStore
from fittingroom.tensors import request_key
from fittingroom.translation.stage import translate_batch
from fittingroom.v1 import common_pb2, events_pb2

SERVICE = "translation"


class TranslationStage:
    """Batch handler for ``tryon.styled`` → ``tryon.translated``."""

    def __init__(self, generator_for: Callable[[str], nn.Module], available: list[str], store: ObjectStore, *,
                 device: torch.device | str, inline_max_bytes: int, precision: str = "fp32",
                 models_for: Callable[[str], Sequence[common_pb2.ModelVersion]] = lambda _key: ()) -> None:
        self.generator_for = generator_for
        self.models_for = models_for  # a style class's generator version, recorded on its results
        self.device = device
        self.precision = precision
        self.available = available
        self.store = store
        self.inline_max_bytes = inline_max_bytes

    def handle_batch(self, events: Sequence[events_pb2.TryOnEvent], inline_max_bytes: int | None = None) -> list:
        """Load each crop, run each style class's generator once over its group, store the results."""
        started = time.perf_counter()
        inline_max = self.inline_max_bytes if inline_max_bytes is None else inline_max_bytes
        return (
            Batch.of(events)
            .map(lambda event, _: self._load(event))
            .map_groups(lambda event, _: event.style.translation_key,
                        lambda key, crops: translate_batch(self.generator_for(key), np.stack(crops), device=self.device,
                                                           precision=self.precision))
            .map(lambda event, image: self._finish(event, image, started, inline_max))
            .results()
        )

    def _load(self, event: events_pb2.TryOnEvent) -> np.ndarray:
        key = event.style.translation_key
        if key not in self.available:
            raise UnknownStyleError(key or "(none)", self.available)
        return load_array(self.store, event.translation_input, "translation input")

    def _finish(self, event: events_pb2.TryOnEvent, image: np.ndarray, started: float,
                inline_max: int) -> events_pb2.TryOnEvent:
        out = events_pb2.TryOnEvent()
        out.CopyFrom(event)
        key = request_key(event.request_id, SERVICE, "translated.npy")
        out.translated.CopyFrom(save_array(self.store, key, image, inline_max))
        record_models(out, self.models_for(event.style.translation_key))
        out.stage = events_pb2.TRANSLATED
        add_timing(out, SERVICE, started)
        return out
