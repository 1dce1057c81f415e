"""The translation stage: recolour/re-pattern garment crops with a style class's generator.

Pure logic (docs/design.md §2): arrays in, arrays out. Loading weights goes through the
model registry handed in by the caller, so the same code serves the CLI, the gRPC
servicer and the Kafka worker.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fittingroom.errors import BadImageError
from fittingroom.precision import autocast_for
from fittingroom.translation.dataset import to_uint8

KIND = "translation"


def _check_crops(crops: np.ndarray) -> None:
    if not isinstance(crops, np.ndarray) or crops.dtype != np.uint8:
        raise BadImageError("garment crops must be a uint8 numpy array")
    if crops.ndim != 4 or crops.shape[-1] != 3:
        raise BadImageError(f"garment crops must be NxHxWx3, got shape {crops.shape}")
    height, width = crops.shape[1:3]
    if height == 0 or width == 0 or height % 4 or width % 4:
        raise BadImageError(f"crop size {height}x{width} must be a positive multiple of 4 (256x256 expected)")


def translate_batch(generator: nn.Module, crops: np.ndarray, *, device: torch.device | str,
                    precision: str = "fp32") -> np.ndarray:
    """Translate NxHxWx3 uint8 crops (256×256 in the pipeline) with one generator on ``device``, in one pass,
    at ``precision`` (:mod:`fittingroom.precision`)."""
    _check_crops(crops)
    if len(crops) == 0:
        return crops.copy()
    batch = torch.from_numpy(np.ascontiguousarray(crops)).to(device).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    with torch.inference_mode(), autocast_for(device, precision):
        output = generator(batch)
    return to_uint8(output)


def translate_garment(generator: nn.Module, crop: np.ndarray, *, device: torch.device | str,
                      precision: str = "fp32") -> np.ndarray:
    """Translate one HxWx3 uint8 garment crop (256×256 in the pipeline)."""
    if not isinstance(crop, np.ndarray) or crop.ndim != 3:
        raise BadImageError(f"garment crop must be an HxWx3 array, got {getattr(crop, 'shape', type(crop))}")
    return translate_batch(generator, crop[None], device=device, precision=precision)[0]
