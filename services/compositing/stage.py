"""Compositing maths: steps 4 and 6–10 of the method (DESIGN §1), pure numpy.

Step 4 turns the person's segmented garment into the translator's square input;
steps 6–10 put the translated square back:

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
from fittingroom.garments import Garment
from fittingroom.pattern import Fabric, apply_fabric

TRANSLATION_SIZE = 256


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    shrinking = width * height < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(image, (width, height), interpolation=interpolation)


def clip_box(box: tuple[int, int, int, int], height: int, width: int) -> tuple[int, int, int, int]:
    """Clip an ``(x1, y1, x2, y2)`` box (x2/y2 exclusive) to an image; must stay non-empty."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    x1, y1 = max(0, min(x1, width - 1)), max(0, min(y1, height - 1))
    x2, y2 = max(x1 + 1, min(x2, width)), max(y1 + 1, min(y2, height))
    return x1, y1, x2, y2


def segmented_garment(image: np.ndarray, garment: Garment) -> np.ndarray:
    """The garment's box crop with every pixel outside its mask set to black."""
    x1, y1, x2, y2 = clip_box(garment.box, *image.shape[:2])
    crop = image[y1:y2, x1:x2].copy()
    crop[~garment.mask[y1:y2, x1:x2]] = 0
    return crop


def translation_input(image: np.ndarray, garment: Garment, size: int = TRANSLATION_SIZE) -> np.ndarray:
    """Step 4: the segmented garment resized to the translator's ``size × size``."""
    return _resize(segmented_garment(image, garment), size, size)


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
    canvas[y1:y2, x1:x2] = _resize(generated, x2 - x1, y2 - y1)
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
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be H×W×3 uint8, got {image.shape} {image.dtype}")
    if garment.mask.shape != image.shape[:2]:
        raise ValueError(f"mask {garment.mask.shape} does not match image {image.shape[:2]}")
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
