"""DeepFashion2 item annotations from rendered garment masks.

Given the full silhouette of a garment, the part of it left visible in the
picture and its landmarks, work out what a DeepFashion2 annotator would write:
polygons of the visible region, the tight box, landmark visibility and the
scale / occlusion / zoom-in / viewpoint grades.
"""

from __future__ import annotations

import cv2
import numpy as np

from fittingroom.data.df2_landmarks import DF2_CATEGORY_NAMES
from fittingroom.garments import COLOUR_NAMES, PATTERNS, style_key

# Style classes in the order that defines DeepFashion2 "style" ids (1-based).
STYLE_CLASSES: tuple[str, ...] = tuple(style_key(c, p) for c in COLOUR_NAMES for p in PATTERNS)
MIN_VISIBLE_PIXELS = 40


def style_index(colour: str, pattern: str) -> int:
    """1-based style id of a colour × pattern class (its place in STYLE_CLASSES)."""
    return STYLE_CLASSES.index(style_key(colour, pattern)) + 1


def mask_polygons(mask: np.ndarray, tolerance: float = 0.6) -> list[list[float]]:
    """Outer contours of a bool mask as flat ``[x1, y1, ...]`` polygons (>= 3 points)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons = []
    for contour in contours:
        if cv2.contourArea(contour) < 4:
            continue
        approx = cv2.approxPolyDP(contour, tolerance, True).reshape(-1, 2)
        if len(approx) >= 3:
            polygons.append([float(v) for v in approx.reshape(-1)])
    return polygons


def mask_box(mask: np.ndarray) -> list[int]:
    """Tight ``[x1, y1, x2, y2]`` of a mask, x2/y2 exclusive."""
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def landmark_visibility(marks: np.ndarray, visible: np.ndarray, hidden: tuple[int, ...] = ()) -> list[int]:
    """Flat DF2 landmarks: v=2 on visible cloth, 1 occluded, (0, 0, 0) outside the image.

    ``hidden`` lists landmark numbers that are occluded whatever the mask says
    (the front neckline of a figure seen from the back).
    """
    h, w = visible.shape
    near = cv2.dilate(visible.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    flat: list[int] = []
    for number, (x, y, v) in enumerate(marks, start=1):
        xi, yi = int(round(x)), int(round(y))
        if v == 0 or not (0 <= xi < w and 0 <= yi < h):
            flat += [0, 0, 0]
            continue
        seen = near[yi, xi] and number not in hidden
        flat += [xi, yi, 2 if seen else 1]
    return flat


def _grade(value: float, edges: tuple[float, float]) -> int:
    """1, 2 or 3 as ``value`` passes each edge."""
    return 1 + int(value >= edges[0]) + int(value >= edges[1])


def polygon_area(points: np.ndarray) -> float:
    """Shoelace area of a closed ``(k, 2)`` polygon."""
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def item_annotation(category: int, colour: str, pattern: str, full: np.ndarray, visible: np.ndarray,
                    outline_area: float, marks: np.ndarray, viewpoint: int,
                    hidden: tuple[int, ...] = ()) -> dict:
    """One ``itemK`` dict in DeepFashion2 format for a rendered garment.

    ``full`` is the silhouette inside the image, ``visible`` the unoccluded part,
    ``outline_area`` the silhouette's area including any part outside the frame.
    """
    h, w = visible.shape
    in_frame = max(1, int(full.sum()))
    seen = int(visible.sum())
    return {
        "category_id": category,
        "category_name": DF2_CATEGORY_NAMES[category],
        "style": style_index(colour, pattern),
        "bounding_box": mask_box(visible),
        "segmentation": mask_polygons(visible),
        "landmarks": landmark_visibility(marks, visible, hidden),
        "scale": _grade(seen / (h * w), (0.04, 0.15)),
        "occlusion": _grade(1 - seen / in_frame, (0.1, 0.3)),
        "zoom_in": _grade(1 - in_frame / max(outline_area, in_frame), (0.05, 0.25)),
        "viewpoint": viewpoint,
    }
