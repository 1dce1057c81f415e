"""Contact sheet: one PNG that shows every step of a try-on side by side."""

from __future__ import annotations

import cv2
import numpy as np

from fittingroom.crops import clip_box
from fittingroom.garments import Garment

TILE_HEIGHT = 256
_LABEL_BAR = 22


def mask_overlay(image: np.ndarray, garment: Garment, colour: tuple[int, int, int] = (0, 255, 90)) -> np.ndarray:
    """The photo with the garment mask tinted and its box outlined."""
    overlay = image.copy()
    tint = np.array(colour, dtype=np.float32)
    region = garment.mask
    overlay[region] = (overlay[region].astype(np.float32) * 0.45 + tint * 0.55).astype(np.uint8)
    x1, y1, x2, y2 = clip_box(garment.box, *image.shape[:2])
    cv2.rectangle(overlay, (x1, y1), (x2 - 1, y2 - 1), colour, 2)
    return overlay


def _tile(image: np.ndarray, label: str) -> np.ndarray:
    height, width = image.shape[:2]
    new_width = max(1, round(width * TILE_HEIGHT / height))
    body = cv2.resize(image, (new_width, TILE_HEIGHT), interpolation=cv2.INTER_AREA)
    bar = np.full((_LABEL_BAR, new_width, 3), 245, dtype=np.uint8)
    cv2.putText(bar, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (20, 20, 20), 1, cv2.LINE_AA)
    return np.vstack([bar, body])


def contact_sheet(tiles: list[tuple[str, np.ndarray]], gap: int = 6) -> np.ndarray:
    """Label and lay out images left to right at a common height."""
    rendered = [_tile(image, label) for label, image in tiles]
    spacer = np.full((TILE_HEIGHT + _LABEL_BAR, gap, 3), 255, dtype=np.uint8)
    row: list[np.ndarray] = []
    for tile in rendered:
        row.extend([tile, spacer])
    return np.hstack(row[:-1])
