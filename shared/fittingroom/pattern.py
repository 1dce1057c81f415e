"""The exact-pattern step: the product's own fabric, shaded like the shopper's garment.

A per-class CycleGAN generator trained on a CPU budget recolours reliably but
paints stripes, checks and dots only faintly, and never the product's own
stripe width or print. This step, the pattern counterpart of the exact-colour
step, runs after translation for products whose style class is not ``solid``:

1. :func:`fabric_patch` cuts the largest square of fabric from inside the product
   garment (away from its outline, collar and sleeves);
2. :func:`apply_fabric` tiles it over the shopper's garment, at the scale the
   pattern has on the product relative to the garment's width;
3. the translated garment's lightness, blurred (folds are broad, a left-over
   pattern is fine) and taken relative to its median, shades the fabric: folds
   and shadows stay where the shopper's garment has them.

Pure numpy; pixels outside the garment mask are returned bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fittingroom.colour import lab_to_rgb, rgb_to_lab

# The smallest fabric square worth tiling (pixels on the product photo).
MIN_PATCH = 12


@dataclass
class Fabric:
    """A square of the product's fabric and the product garment's width (pixels) on its photo."""

    patch: np.ndarray
    garment_width: float


def fabric_patch(image: np.ndarray, mask: np.ndarray) -> Fabric | None:
    """The largest fabric square inside the garment, with the garment's width in pixels.

    The square is centred on the point deepest inside the mask, so it avoids the
    outline and the background. ``None`` when the garment is too thin for one.
    """
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask {mask.shape} does not match image {image.shape[:2]}")
    if not mask.any():
        return None
    depth = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    cy, cx = np.unravel_index(int(np.argmax(depth)), depth.shape)
    half = int(depth[cy, cx] / np.sqrt(2.0)) - 1
    if 2 * half < MIN_PATCH:
        return None
    xs = np.nonzero(mask.any(axis=0))[0]
    width = float(xs.max() - xs.min() + 1)
    return Fabric(image[cy - half:cy + half, cx - half:cx + half].copy(), width)


def _tiled(patch: np.ndarray, height: int, width: int) -> np.ndarray:
    """``patch`` repeated to cover ``height × width``.

    Plain repeats keep the pattern's orientation (mirrored tiles would turn
    diagonal stripes into chevrons); the price is a seam where the patch is not
    a whole number of pattern periods.
    """
    reps = (height // patch.shape[0] + 1, width // patch.shape[1] + 1, 1)
    return np.tile(patch, reps)[:height, :width]


def apply_fabric(
    image: np.ndarray, mask: np.ndarray, shading: np.ndarray, fabric: Fabric, shading_strength: float = 1.0,
) -> np.ndarray:
    """``image`` with the garment (``mask``) made of ``fabric``, shaded by ``shading``.

    ``shading`` is the translated garment (``H×W×3``, aligned with ``image``); its
    blurred lightness minus its median inside the mask is added to the fabric's.
    The pattern keeps its size relative to the garment's width.
    """
    patch = fabric.patch
    if mask.shape != image.shape[:2] or shading.shape != image.shape:
        raise ValueError("image, mask and shading must be aligned")
    result = image.copy()
    if not mask.any():
        return result
    xs = np.nonzero(mask.any(axis=0))[0]
    ys = np.nonzero(mask.any(axis=1))[0]
    x1, x2, y1, y2 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    scale = (x2 - x1) / max(fabric.garment_width, 1.0)
    side = max(2, int(round(patch.shape[0] * scale)))
    fabric = _tiled(cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR),
                    y2 - y1, x2 - x1)
    inside = mask[y1:y2, x1:x2]
    fabric_lab = rgb_to_lab(fabric[inside])
    lightness = rgb_to_lab(shading[y1:y2, x1:x2])[..., 0]
    # Folds are broad, a left-over pattern is fine: blur keeps the one and drops the other.
    sigma = max(1.0, 0.012 * (x2 - x1))
    shade = cv2.GaussianBlur(lightness, (0, 0), sigma)[inside]
    fabric_lab[:, 0] = np.clip(fabric_lab[:, 0] + shading_strength * (shade - np.median(shade)), 0.0, 100.0)
    window = result[y1:y2, x1:x2]
    window[inside] = lab_to_rgb(fabric_lab)
    return result
