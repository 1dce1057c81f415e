"""Compositing maths: steps 6–10 of the method (docs/design.md §1), pure numpy.

Step 4 (the translator's square input) lives in :mod:`fittingroom.crops`, which
several services share; steps 6–10 put the translated square back:

    6. resize the generated image back to the original crop size,
    7. crop to the bounding box (clipped to the photo),
    8. pad back to the original image size,
    9. mask the person image (outside the garment) and the generated image (inside),
    10. add the two.

Pixels outside the garment mask are bit-identical to the input photo, with or
without feathering: the feathered alpha is the hard mask times a blur of it, so
it only softens the garment's inner edge.
"""

from __future__ import annotations

import cv2
import numpy as np

from fittingroom.colour import Lab, match_garment_colour
from fittingroom.crops import clip_box, resize_to
from fittingroom.garments import Garment
from fittingroom.pattern import Fabric, apply_fabric


def feathered_alpha(mask: np.ndarray, feather_px: float = 0.0) -> np.ndarray:
    """Float alpha in [0, 1]: the hard mask, optionally softened on its inner edge."""
    hard = mask.astype(np.float32)
    if feather_px <= 0:
        return hard
    sigma = float(feather_px) / 2.0
    blurred = cv2.GaussianBlur(hard, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
    inner = np.clip((blurred - 0.5) / 0.45, 0.0, 1.0)
    return hard * inner


def paste_generated(image_shape: tuple[int, ...], garment: Garment, generated: np.ndarray) -> np.ndarray:
    """Steps 6–8: generated square → crop size → placed at the box in a black canvas."""
    height, width = image_shape[:2]
    x1, y1, x2, y2 = clip_box(garment.box, height, width)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    canvas[y1:y2, x1:x2] = resize_to(generated, x2 - x1, y2 - y1)
    return canvas


def composite_garment(
    image: np.ndarray,
    garment: Garment,
    generated: np.ndarray,
    feather_px: float = 0.0,
    target_lab: Lab | None = None,
    fabric: Fabric | None = None,
) -> np.ndarray:
    """Steps 6–10: the photo with the garment replaced by the generated one.

    With ``target_lab`` (the product's measured colour) the exact-colour step
    runs on the pasted garment before blending: the garment's median colour
    becomes ``target_lab`` and its luminance structure is kept. With ``fabric``
    (a patterned product's own fabric) the exact-pattern step runs first: the
    fabric is tiled over the garment and shaded by the shopper's own garment's folds.
    The work is done in a window around the garment's box and mask, wide enough
    for the feathering blur and the colour step's erosion to see what they would
    on the whole photo; everything outside the mask is the photo's anyway.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be H×W×3 uint8, got {image.shape} {image.dtype}")
    if garment.mask.shape != image.shape[:2]:
        raise ValueError(f"mask {garment.mask.shape} does not match image {image.shape[:2]}")
    rows, cols = _garment_window(garment, image.shape[:2], feather_px)
    local = Garment(mask=garment.mask[rows, cols], category=garment.category, score=garment.score,
                    box=tuple(v - o for v, o in zip(clip_box(garment.box, *image.shape[:2]),
                                                     (cols.start, rows.start, cols.start, rows.start))))
    result = image.copy()
    result[rows, cols] = composite_in_place(image[rows, cols], local, generated, feather_px, target_lab, fabric)
    return result


def _garment_window(garment: Garment, shape: tuple[int, int], feather_px: float) -> tuple[slice, slice]:
    """Rows and columns around the garment's (clipped) box and mask, with room for the blur and the erosion."""
    height, width = shape
    x1, y1, x2, y2 = clip_box(garment.box, height, width)
    ys, xs = np.nonzero(garment.mask.any(axis=1))[0], np.nonzero(garment.mask.any(axis=0))[0]
    if len(xs):
        x1, x2, y1, y2 = min(x1, int(xs[0])), max(x2, int(xs[-1]) + 1), min(y1, int(ys[0])), max(y2, int(ys[-1]) + 1)
    margin = int(np.ceil(4.0 * max(feather_px, 0.0) / 2.0)) + 3
    return (slice(max(0, y1 - margin), min(height, y2 + margin)),
            slice(max(0, x1 - margin), min(width, x2 + margin)))


def composite_in_place(
    image: np.ndarray,
    garment: Garment,
    generated: np.ndarray,
    feather_px: float = 0.0,
    target_lab: Lab | None = None,
    fabric: Fabric | None = None,
) -> np.ndarray:
    """:func:`composite_garment` computed over the whole of ``image`` (no window)."""
    padded = paste_generated(image.shape, garment, generated)
    if fabric is not None:
        padded = apply_fabric(padded, garment.mask, image, fabric)
    if target_lab is not None:
        padded = match_garment_colour(padded, garment.mask, target_lab)
    alpha = feathered_alpha(garment.mask, feather_px)[..., None]
    blended = image.astype(np.float32) * (1.0 - alpha) + padded.astype(np.float32) * alpha
    result = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    outside = alpha[..., 0] == 0
    result[outside] = image[outside]
    return result
