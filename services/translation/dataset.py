"""Unpaired image folders for CycleGAN: domain A (source) and domain B (one style class).

Images are resized to ``load_size``, randomly cropped to ``crop_size`` and randomly
flipped, then scaled to [-1, 1] as the generators expect. Domain B is drawn at
random for every item so pairs never repeat in a fixed order (as in the original
``unaligned`` dataset).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def list_images(folder: str | Path) -> list[Path]:
    """Sorted image files directly inside ``folder``; raises if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(f"no PNG/JPEG images in {folder}")
    return files


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 → 3xHxW float in [-1, 1]."""
    return torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1).float().div(127.5).sub(1.0)


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """(N)x3xHxW in [-1, 1] → (N)xHxWx3 uint8, rounded and clipped."""
    array = tensor.detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return array.movedim(-3, -1).numpy()


def load_rgb(path: Path, size: int) -> Image.Image:
    """Read an image as RGB, resized to ``size``×``size`` (bicubic)."""
    with Image.open(path) as image:
        return image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)


class RandomSource(Protocol):
    """What :func:`augment` needs: a ``random.Random`` or the ``random`` module itself."""

    def randint(self, a: int, b: int) -> int: ...

    def random(self) -> float: ...


def augment(image: Image.Image, crop_size: int, hflip: bool, rng: RandomSource) -> np.ndarray:
    """Random ``crop_size`` crop and optional random horizontal flip.

    The dataset passes the ``random`` module, which training seeds and the
    data-loader re-seeds in each worker, so runs are repeatable.
    """
    array = np.asarray(image)
    y = rng.randint(0, array.shape[0] - crop_size)
    x = rng.randint(0, array.shape[1] - crop_size)
    array = array[y:y + crop_size, x:x + crop_size]
    if hflip and rng.random() < 0.5:
        array = array[:, ::-1]
    return array


class UnpairedFolderDataset(Dataset):
    """Items are ``{"A": tensor, "B": tensor}``; the epoch length is the larger folder."""

    def __init__(
        self, source_dir: str | Path, target_dir: str | Path, load_size: int = 286, crop_size: int = 256,
        hflip: bool = True,
    ) -> None:
        self.files_a = list_images(source_dir)
        self.files_b = list_images(target_dir)
        self.load_size, self.crop_size, self.hflip = load_size, crop_size, hflip

    def __len__(self) -> int:
        return max(len(self.files_a), len(self.files_b))

    def _load(self, path: Path) -> torch.Tensor:
        image = load_rgb(path, self.load_size)
        return to_tensor(augment(image, self.crop_size, self.hflip, random))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        path_a = self.files_a[index % len(self.files_a)]
        path_b = self.files_b[random.randrange(len(self.files_b))]
        return {"A": self._load(path_a), "B": self._load(path_b)}

    def fixed_samples(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``count`` images of each domain at ``crop_size``, unaugmented (for sample grids)."""
        a = [to_tensor(np.asarray(load_rgb(p, self.crop_size))) for p in self.files_a[:count]]
        b = [to_tensor(np.asarray(load_rgb(p, self.crop_size))) for p in self.files_b[:count]]
        return torch.stack(a), torch.stack(b)
