"""Photographic backgrounds for synthetic shopper photos, from photos shipped in packages.

Shops' shopper photos are taken in real rooms and streets; flat synthetic walls
teach a segmenter that anything textured is not a garment. These backgrounds
are random crops of CC0 / public-domain photos that scikit-image ships (no
people in them), blurred like a portrait's background and re-lit.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

# scikit-image data files, all CC0 or public domain, none showing a person.
BACKGROUND_PHOTOS = (
    "brick.png", "grass.png", "gravel.png", "coffee.png", "rocket.jpg", "chelsea.png",
    "hubble_deep_field.jpg",
)


@lru_cache(maxsize=1)
def _photos() -> tuple[np.ndarray, ...]:
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    photos = []
    for name in BACKGROUND_PHOTOS:
        image = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
        if image is not None:
            photos.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0)
    if not photos:
        raise FileNotFoundError(f"none of {BACKGROUND_PHOTOS} found under {folder}")
    return tuple(photos)


def photo_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A ``height×width×3`` float background in [0, 1]: a blurred, re-lit crop of a real photo."""
    photos = _photos()
    photo = photos[int(rng.integers(len(photos)))]
    ph, pw = photo.shape[:2]
    scale = rng.uniform(0.35, 1.0)
    ch, cw = max(8, int(ph * scale)), max(8, int(min(pw, ph * scale * width / height)))
    y0, x0 = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    crop = cv2.resize(photo[y0:y0 + ch, x0:x0 + cw], (width, height), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    sigma = rng.uniform(0.0, 3.0) * max(height, width) / 320.0
    if sigma > 0.3:
        crop = cv2.GaussianBlur(crop, (0, 0), sigma)
    tint = rng.uniform(0.75, 1.15, 3).astype(np.float32)
    return np.clip(crop * tint * rng.uniform(0.7, 1.2), 0.0, 1.0)
