"""Style crops on disk as a torch Dataset, with label-preserving augmentation.

Layout (written by ``fittingroom.data.synth.generate_dataset``, or by hand for real
data)::

    <data_root>/styles/<split>/<colour>-<pattern>/<id>.png

Each PNG is a garment's box crop with pixels outside the garment mask black. Crops
are letterboxed to 96×96 once and kept in memory (a 1500-crop split is ~40 MB).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from fittingroom.garments import COLOUR_NAMES, PATTERNS, parse_style_key
from fittingroom.style.model import INPUT_SIZE
from fittingroom.style.preprocess import garment_interior, letterbox, to_model_tensor

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class StyleSample:
    """One crop file and its labels."""

    path: Path
    colour: str
    pattern: str


def scan_style_split(data_root: str | Path, split: str) -> list[StyleSample]:
    """Every crop under ``<data_root>/styles/<split>/``, sorted by path."""
    split_dir = Path(data_root) / "styles" / split
    if not split_dir.is_dir():
        raise FileNotFoundError(f"no style split folder {split_dir}")
    samples = []
    for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        try:
            colour, pattern = parse_style_key(class_dir.name)
        except ValueError as exc:
            raise ValueError(f"{class_dir}: folder name is not a style class ({exc})") from None
        for path in sorted(class_dir.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                samples.append(StyleSample(path, colour, pattern))
    return samples


def load_crop(path: Path) -> np.ndarray:
    """A crop file as ``H×W×3`` uint8 RGB."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def _shrink_and_shift(img: np.ndarray, rng: np.random.Generator, scale_min: float) -> np.ndarray:
    scale = rng.uniform(scale_min, 1.0)
    size = img.shape[0]
    new = max(8, int(round(size * scale)))
    if new >= size:
        return img
    small = cv2.resize(img, (new, new), interpolation=cv2.INTER_AREA)
    out = np.zeros_like(img)
    top, left = rng.integers(0, size - new + 1, size=2)
    out[top:top + new, left:left + new] = small
    return out


def _shading(img: np.ndarray, rng: np.random.Generator, jitter: float) -> np.ndarray:
    size = img.shape[0]
    coords = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * coords[None, :] + np.sin(angle) * coords[:, None]
    field = rng.uniform(1 - jitter, 1 + jitter) * (1 + rng.uniform(-jitter, jitter) * ramp)
    channel = 1 + rng.uniform(-jitter / 4, jitter / 4, size=3).astype(np.float32)
    shaded = img.astype(np.float32) * field[..., None] * channel
    return np.clip(shaded, 0, 255).astype(np.uint8)


def _trim_edge(img: np.ndarray, rng: np.random.Generator, edge_trim: float) -> np.ndarray:
    """Black out a random-width ring at the garment's edge, as serving's mask trim does."""
    garment = img.any(axis=2)
    interior = garment_interior(garment, float(rng.uniform(0.0, edge_trim)))
    return np.where(interior[..., None], img, 0).astype(img.dtype)


def augment_crop(
    img: np.ndarray, rng: np.random.Generator, jitter: float = 0.15, scale_min: float = 0.9,
    edge_trim: float = 0.0,
) -> np.ndarray:
    """Random flip, shrink-and-shift, edge trim and smooth multiplicative shading of a letterboxed crop.

    The edge trim (up to ``edge_trim`` of the garment's shorter side) shows the network
    the garment interiors it reads at serving time (:data:`fittingroom.style.preprocess.MASK_EDGE_TRIM`).

    Shading multiplies pixels by a global gain and a linear light ramp (both within
    ``1 ± jitter``) and each channel by ``1 ± jitter/4``: like folds and lighting, it
    changes brightness but not hue, so the colour class stays true. Black background
    stays black because the change is multiplicative.
    """
    if rng.random() < 0.5:
        img = img[:, ::-1]
    if scale_min < 1.0:
        img = _shrink_and_shift(np.ascontiguousarray(img), rng, scale_min)
    if edge_trim > 0:
        img = _trim_edge(img, rng, edge_trim)
    if jitter > 0:
        img = _shading(img, rng, jitter)
    return np.ascontiguousarray(img)


class StyleCropDataset(Dataset):
    """``(image 3×96×96 float in [0,1], colour index, pattern index)`` per crop."""

    def __init__(
        self,
        data_root: str | Path,
        split: str,
        colours: Sequence[str] = COLOUR_NAMES,
        patterns: Sequence[str] = PATTERNS,
        augment: bool = False,
        jitter: float = 0.15,
        scale_min: float = 0.9,
        size: int = INPUT_SIZE,
        edge_trim: float = 0.0,
    ) -> None:
        self.samples = scan_style_split(data_root, split)
        self.colours, self.patterns = list(colours), list(patterns)
        unknown = {s.colour for s in self.samples} - set(self.colours)
        unknown |= {s.pattern for s in self.samples} - set(self.patterns)
        if unknown:
            raise ValueError(f"{split} split has classes the model does not: {sorted(unknown)}")
        self.augment, self.jitter, self.scale_min, self.size = augment, jitter, scale_min, size
        self.edge_trim = edge_trim
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def labels(self, index: int) -> tuple[int, int]:
        """``(colour index, pattern index)`` of one sample."""
        sample = self.samples[index]
        return self.colours.index(sample.colour), self.patterns.index(sample.pattern)

    def image(self, index: int) -> np.ndarray:
        """The letterboxed, un-augmented crop (cached)."""
        if index not in self._cache:
            self._cache[index] = letterbox(load_crop(self.samples[index].path), self.size)
        return self._cache[index]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        img = self.image(index)
        if self.augment:
            rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()).item()))
            img = augment_crop(img, rng, self.jitter, self.scale_min, self.edge_trim)
        colour, pattern = self.labels(index)
        return to_model_tensor(img)[0], colour, pattern
