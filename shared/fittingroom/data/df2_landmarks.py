"""DeepFashion2 landmark facts: per-category counts and the garment-outline order.

DeepFashion2 annotates each category with its own numbered landmarks (294 in all).
Most lie on the garment's outer contour; the skeleton published with the dataset
links them round that contour in a fixed order. ``OUTLINE_ORDER`` lists, per
category, the 1-based landmark numbers that trace the outer contour in that order
(front neckline points, strap tips and the zip line of outwear are left out: they
lie inside the silhouette). Both the synthetic generator (to place landmarks) and
the landmark-polygon converter (to read them) use this one table.
"""

from __future__ import annotations

import numpy as np

# Category names as DeepFashion2's own annotation files spell them, by 1-based id.
DF2_CATEGORY_NAMES: dict[int, str] = {
    1: "short sleeve top", 2: "long sleeve top", 3: "short sleeve outwear",
    4: "long sleeve outwear", 5: "vest", 6: "sling", 7: "shorts", 8: "trousers",
    9: "skirt", 10: "short sleeve dress", 11: "long sleeve dress", 12: "vest dress",
    13: "sling dress",
}

# Landmark count per 1-based category id (short_sleeved_shirt .. sling_dress).
LANDMARK_COUNTS: dict[int, int] = {
    1: 25, 2: 33, 3: 31, 4: 39, 5: 15, 6: 15, 7: 10,
    8: 14, 9: 8, 10: 29, 11: 37, 12: 19, 13: 19,
}


def _top(first_side: int, last_side: int, left_neck: int = 2) -> tuple[int, ...]:
    """Back-neck centre, one neck corner, the side/sleeve/hem run, the other corner."""
    return (1, left_neck, *range(first_side, last_side + 1), 6)


def _bottom(last: int) -> tuple[int, ...]:
    """Waist corner, the leg/hem run from 4, then back along the waistband."""
    return (1, *range(4, last + 1), 3, 2)


OUTLINE_ORDER: dict[int, tuple[int, ...]] = {
    1: _top(7, 25),
    2: _top(7, 33),
    3: _top(7, 25, left_neck=4),
    4: _top(7, 33),
    5: _top(7, 15),
    6: _top(8, 14),
    7: _bottom(10),
    8: _bottom(14),
    9: _bottom(8),
    10: _top(7, 29),
    11: _top(7, 37),
    12: _top(7, 19),
    13: _top(8, 18),
}


def landmark_triplets(landmarks: list[float]) -> np.ndarray:
    """Flat ``[x, y, v, ...]`` as an ``(n, 3)`` float array."""
    return np.asarray(landmarks, dtype=np.float64).reshape(-1, 3)


def outline_points(category_id: int, landmarks: list[float]) -> np.ndarray:
    """Labelled (v > 0) outline landmarks of one item in contour order, ``(k, 2)``."""
    points = landmark_triplets(landmarks)
    order = [i - 1 for i in OUTLINE_ORDER[category_id] if i - 1 < len(points)]
    chosen = points[order]
    return chosen[chosen[:, 2] > 0][:, :2]


def densify(points: np.ndarray, max_step: float) -> np.ndarray:
    """Insert evenly spaced points on every edge of a closed polygon.

    Each edge is split so consecutive vertices are at most ``max_step`` pixels
    apart; the shape is unchanged, the polygon just carries more vertices.
    """
    if len(points) < 2:
        return points
    nxt = np.roll(points, -1, axis=0)
    out = []
    for a, b in zip(points, nxt):
        steps = max(1, int(np.ceil(np.linalg.norm(b - a) / max_step)))
        t = np.arange(steps)[:, None] / steps
        out.append(a + t * (b - a))
    return np.concatenate(out, axis=0)


def landmark_polygon(
    category_id: int, landmarks: list[float], width: int, height: int, max_step: float = 4.0
) -> list[float]:
    """Dense flat polygon ``[x1, y1, ...]`` through an item's outline landmarks.

    Returns an empty list when fewer than three outline landmarks are labelled,
    so the caller can fall back to the annotated segmentation.
    """
    pts = outline_points(category_id, landmarks)
    if len(pts) < 3:
        return []
    dense = densify(pts, max_step)
    dense[:, 0] = dense[:, 0].clip(0, width - 1)
    dense[:, 1] = dense[:, 1].clip(0, height - 1)
    return [round(float(v), 2) for v in dense.reshape(-1)]
