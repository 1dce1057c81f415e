"""Colour science for the exact-colour step and the try-on evaluation, pure numpy.

The style classifier names a product's colour as one of a few classes, and a
class's CycleGAN generator paints that class's prototype colour. A product whose
colour lies between classes (teal, burgundy, navy) would come out in the
prototype. The exact-colour step fixes that after translation: it moves the
translated garment's colour, inside the garment mask only, to the product
garment's measured colour in CIELAB, keeping the translated luminance structure
(folds, shading, pattern) as offsets around the new mean.

CIELAB values here are D65, ``L`` in 0..100 and ``a``/``b`` unbounded (OpenCV's
float conversion). :func:`ciede2000` is the CIE's ΔE2000 colour difference.
"""

from __future__ import annotations

import cv2
import numpy as np

Lab = tuple[float, float, float]

# A mask whose eroded core is smaller than this is measured whole.
_MIN_MEASURED_PIXELS = 16


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """``…×3`` uint8 sRGB → float32 CIELAB of the same leading shape."""
    flat = np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1, 1, 3)
    lab = cv2.cvtColor(flat.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return lab.reshape(*rgb.shape[:-1], 3)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """``…×3`` float CIELAB → uint8 sRGB (out-of-gamut values clipped)."""
    flat = np.ascontiguousarray(lab, dtype=np.float32).reshape(-1, 1, 3)
    rgb = cv2.cvtColor(flat, cv2.COLOR_Lab2RGB)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8).reshape(*lab.shape[:-1], 3)


def _core(mask: np.ndarray) -> np.ndarray:
    """The mask without its one-pixel rim (edge pixels mix garment and background)."""
    eroded = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return eroded if eroded.sum() >= _MIN_MEASURED_PIXELS else mask.astype(bool)


def measure_garment_colour(image: np.ndarray, mask: np.ndarray) -> Lab:
    """The garment's colour: per-channel median CIELAB of its pixels (rim excluded).

    The median ignores highlights, deep shadows and small prints, so a product
    photographed on white with a logo still measures as its fabric colour.
    Raises ``ValueError`` on an empty mask or a mask of another shape.
    """
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask {mask.shape} does not match image {image.shape[:2]}")
    if not mask.any():
        raise ValueError("cannot measure the colour of an empty garment mask")
    lab = rgb_to_lab(image[_core(mask)])
    return tuple(float(v) for v in np.median(lab, axis=0))  # type: ignore[return-value]


def match_garment_colour(image: np.ndarray, mask: np.ndarray, target: Lab) -> np.ndarray:
    """``image`` with the garment (``mask``) moved to the colour ``target``.

    Inside the mask every pixel's L, a and b are shifted by the same amount, so
    that the garment's median colour becomes ``target`` while each pixel keeps
    its offset from the median: folds, shading and the translated pattern stay.
    Pixels outside the mask are returned bit-identical.
    """
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask {mask.shape} does not match image {image.shape[:2]}")
    result = image.copy()
    if not mask.any():
        return result
    lab = rgb_to_lab(image[mask])
    shift = np.asarray(target, dtype=np.float32) - np.median(lab[_core(mask)[mask]], axis=0)
    moved = lab + shift
    moved[:, 0] = np.clip(moved[:, 0], 0.0, 100.0)
    result[mask] = lab_to_rgb(moved)
    return result


def palette_clusters(samples: np.ndarray, colours: int = 3, merge_distance: float = 20.0
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A garment's palette: k-means colours of ``samples`` (``N×3``), near ones merged.

    Returns ``(labels, centres, group)``: each sample's cluster, the cluster
    centres, and for each cluster its palette colour (clusters closer than
    ``merge_distance``, chained, are one colour: a garment's lit and shaded side).
    The start is deterministic (first-channel terciles), so the same pixels give the
    same palette in every process.
    """
    count = max(1, min(colours, len(samples)))
    ranks = np.argsort(np.argsort(samples[:, 0], kind="stable"), kind="stable")
    start = (ranks * count // len(samples)).astype(np.int32).reshape(-1, 1)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    _, labels, centres = cv2.kmeans(samples.astype(np.float32), count, start, criteria, 1,
                                    cv2.KMEANS_USE_INITIAL_LABELS)
    group = np.arange(count)
    for a in range(count):
        for b in range(a + 1, count):
            if np.linalg.norm(centres[a] - centres[b]) < merge_distance:
                group[group == group[b]] = group[a]
    return labels.ravel(), centres, group


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference of CIELAB arrays (``…×3``, broadcast), kL=kC=kH=1."""
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    L1, a1, b1 = np.moveaxis(lab1, -1, 0)
    L2, a2, b2 = np.moveaxis(lab2, -1, 0)
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2.0
    g = 0.5 * (1.0 - np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7)))
    a1p, a2p = a1 * (1.0 + g), a2 * (1.0 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0
    d_l = L2 - L1
    d_c = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    d_h = 2.0 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2.0))
    l_bar = (L1 + L2) / 2.0
    cp_bar = (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    hp_bar = np.where(
        c1p * c2p == 0,
        h_sum,
        np.where(np.abs(h1p - h2p) <= 180.0, h_sum / 2.0,
                 np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0)),
    )
    t = (1.0 - 0.17 * np.cos(np.radians(hp_bar - 30.0)) + 0.24 * np.cos(np.radians(2.0 * hp_bar))
         + 0.32 * np.cos(np.radians(3.0 * hp_bar + 6.0)) - 0.20 * np.cos(np.radians(4.0 * hp_bar - 63.0)))
    d_theta = 30.0 * np.exp(-(((hp_bar - 275.0) / 25.0) ** 2))
    r_c = 2.0 * np.sqrt(cp_bar**7 / (cp_bar**7 + 25.0**7))
    s_l = 1.0 + 0.015 * (l_bar - 50.0) ** 2 / np.sqrt(20.0 + (l_bar - 50.0) ** 2)
    s_c = 1.0 + 0.045 * cp_bar
    s_h = 1.0 + 0.015 * cp_bar * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c
    return np.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h))
