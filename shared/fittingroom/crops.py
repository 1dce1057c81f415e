"""Garment crops: a garment's box clipped to its photo, and the translator's square.

Step 4 of the method (the segmented garment resized to the translator's
``256 × 256`` input) and the box geometry that steps 6–8 undo. Pure numpy;
shared by the segmentation service (which sends the square), the compositing
service (which pastes the generated square back) and the contact sheet.
"""

from __future__ import annotations

import cv2
import numpy as np

from fittingroom.garments import Garment

TRANSLATION_SIZE = 256


def resize_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` at ``width × height``: area-averaged when shrinking, cubic when growing."""
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
    return resize_to(segmented_garment(image, garment), size, size)
