"""Cloth appearance: colour × pattern albedo and fold/lighting shading.

A garment pixel is ``albedo(u, v) * shading(x, y)``: the pattern lives in the
garment's own coordinates and the folds multiply it, so a garment recoloured or
re-patterned later still shows the same folds (what the translation stage must
learn to keep).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fittingroom.garments import COLOURS

# Accent colours a pattern may use on a base colour: kept neutral or clearly
# different so the base colour stays the garment's dominant colour.
_ACCENTS: dict[str, tuple[str, ...]] = {
    "black": ("white", "red", "yellow"),
    "white": ("black", "blue", "red"),
    "red": ("white", "black"),
    "orange": ("white", "black"),
    "yellow": ("black", "blue", "white"),
    "green": ("white", "black"),
    "blue": ("white", "yellow"),
    "purple": ("white", "yellow"),
}


@dataclass(frozen=True)
class Look:
    """How one product looks: base/accent RGB (0..1), pattern and its geometry."""

    colour: str
    pattern: str
    base: tuple[float, float, float]
    accent: tuple[float, float, float]
    period: float
    duty: float
    angle: float
    motif_seed: int


def jitter_colour(rng: np.random.Generator, name: str, amount: float = 18.0) -> tuple[float, float, float]:
    """An RGB (0..1) drawn around a COLOURS prototype."""
    rgb = np.asarray(COLOURS[name], dtype=np.float64) + rng.normal(0.0, amount, 3)
    return tuple(float(v) for v in np.clip(rgb, 0, 255) / 255.0)


def make_look(rng: np.random.Generator, colour: str, pattern: str) -> Look:
    """Random but fixed appearance of a product of style ``colour``-``pattern``."""
    accent = str(rng.choice(_ACCENTS[colour]))
    return Look(
        colour=colour,
        pattern=pattern,
        base=jitter_colour(rng, colour),
        accent=jitter_colour(rng, accent, 10.0),
        period=float(rng.uniform(9.0, 18.0)),
        duty=float(rng.uniform(0.22, 0.38)),
        angle=float(rng.choice([0.0, 90.0, 45.0, -45.0], p=[0.45, 0.35, 0.1, 0.1])),
        motif_seed=int(rng.integers(0, 2**31 - 1)),
    )


def _local_coords(shape: tuple[int, int], origin: tuple[float, float], scale: float, angle: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Pattern coordinates (u, v) of every pixel of a region, rotated by ``angle``."""
    xs = (np.arange(shape[1], dtype=np.float32)[None, :] - np.float32(origin[0])) / np.float32(scale)
    ys = (np.arange(shape[0], dtype=np.float32)[:, None] - np.float32(origin[1])) / np.float32(scale)
    c, s = np.float32(np.cos(np.deg2rad(angle))), np.float32(np.sin(np.deg2rad(angle)))
    return xs * c + ys * s, -xs * s + ys * c


def pattern_coverage(look: Look, shape: tuple[int, int], origin: tuple[float, float], scale: float
                     ) -> np.ndarray:
    """Fraction (0..1) of accent colour at each pixel of a region for a look's pattern."""
    u, v = _local_coords(shape, origin, scale, look.angle)
    p, d = look.period, look.duty
    if look.pattern == "solid":
        return np.zeros(shape, np.float32)
    if look.pattern == "stripes":
        return _soft_band(u / p, d)
    if look.pattern == "checks":
        a, b = _soft_band(u / p, d * 1.2), _soft_band(v / p, d * 1.2)
        return np.clip(0.55 * a + 0.55 * b, 0.0, 1.0)
    if look.pattern == "dots":
        row = np.floor(v / p)
        fu = (u / p + 0.5 * (row % 2)) % 1.0 - 0.5
        fv = (v / p) % 1.0 - 0.5
        radius = 0.18 + 0.5 * d
        return np.clip((radius - np.sqrt(fu**2 + fv**2)) * p + 0.5, 0.0, 1.0).astype(np.float32)
    return _print_motifs(look, shape, origin, scale)


def _soft_band(t: np.ndarray, duty: float) -> np.ndarray:
    """1 inside the first ``duty`` of each unit period, anti-aliased at the edges."""
    f = t % 1.0
    return np.clip(np.minimum(f, duty - f) * 12.0 + 0.5, 0.0, 1.0).astype(np.float32)


def _print_motifs(look: Look, shape: tuple[int, int], origin: tuple[float, float], scale: float
                  ) -> np.ndarray:
    """Scattered small motifs (dots, triangles, crosses, rings) fixed per product."""
    rng = np.random.default_rng(look.motif_seed)
    layer = np.zeros(shape, np.uint8)
    cell = look.period * 1.1 * scale
    h, w = shape
    for gy in np.arange(-origin[1] % cell - cell, h + cell, cell):
        for gx in np.arange(-origin[0] % cell - cell, w + cell, cell):
            jitter = rng.uniform(0.15, 0.85, 2) * cell
            _draw_motif(layer, int(rng.integers(0, 4)), (gx + jitter[0], gy + jitter[1]),
                        look.period * scale * rng.uniform(0.18, 0.32), rng.uniform(0, np.pi))
    return layer.astype(np.float32) / 255.0


def _draw_motif(layer: np.ndarray, kind: int, centre: tuple[float, float], size: float, turn: float) -> None:
    c = np.array(centre)
    if kind == 0:
        cv2.circle(layer, (int(c[0]), int(c[1])), max(1, int(size * 0.7)), 255, -1, cv2.LINE_AA)
    elif kind == 1:
        ang = turn + np.array([0, 2.094, 4.189])
        tri = c + size * np.stack([np.cos(ang), np.sin(ang)], axis=1)
        cv2.fillPoly(layer, [tri.astype(np.int32)], 255, cv2.LINE_AA)
    elif kind == 2:
        for a in (turn, turn + np.pi / 2):
            d = size * np.array([np.cos(a), np.sin(a)])
            cv2.line(layer, tuple((c - d).astype(int)), tuple((c + d).astype(int)), 255, 2, cv2.LINE_AA)
    else:
        cv2.circle(layer, (int(c[0]), int(c[1])), max(2, int(size)), 255, 2, cv2.LINE_AA)


def albedo(look: Look, shape: tuple[int, int], origin: tuple[float, float], scale: float) -> np.ndarray:
    """Un-shaded cloth colours ``(h, w, 3)`` float32 in 0..1 for a region."""
    cover = pattern_coverage(look, shape, origin, scale)[..., None]
    base = np.asarray(look.base, np.float32)
    accent = np.asarray(look.accent, np.float32)
    return base * (1.0 - cover) + accent * cover


def fold_shading(mask: np.ndarray, rng: np.random.Generator, strength: float = 1.0,
                 vertical: bool = False) -> np.ndarray:
    """Multiplicative shading ``(h, w)`` of a garment region: folds, edge roll-off, light.

    Folds are a few soft ridges of random direction and width; pixels near the
    silhouette darken like a cylinder's sides; a linear gradient adds key light.
    The brightest tenth of the cloth is normalised to 1 so colours stay true.
    """
    h, w = mask.shape
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    shade = np.ones((h, w), np.float32)
    count = int(rng.integers(3, 7))
    for _ in range(count):
        ang = rng.normal(0.0, 0.3) if vertical else rng.uniform(0, np.pi)
        k = np.float32(2 * np.pi / rng.uniform(14.0, 42.0))
        phase = xs * (k * np.float32(np.cos(ang))) + ys * (k * np.float32(np.sin(ang))) + np.float32(rng.uniform(0, 6.3))
        ridge = np.abs(np.sin(phase)) ** np.float32(rng.uniform(1.0, 3.0))
        shade -= np.float32(strength * rng.uniform(0.3, 0.5) / count) * ridge
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    shade *= 1.0 - 0.3 * strength * np.exp(-dist / max(2.0, 0.12 * min(h, w)))
    light = rng.normal(0.0, 1.0, 2)
    gx, gy = light * strength * 0.12 / (np.hypot(*light) + 1e-6)
    shade *= 1.0 + (xs / w - 0.5) * np.float32(gx) + (ys / h - 0.5) * np.float32(gy)
    if mask.any():
        shade /= max(float(np.percentile(shade[mask], 90)), 1e-3)
    return np.clip(shade, 0.35, 1.1)


def paint_region(canvas: np.ndarray, mask: np.ndarray, look: Look, rng: np.random.Generator,
                 origin: tuple[float, float], scale: float = 1.0, strength: float = 1.0,
                 vertical: bool = False) -> None:
    """Paint a shaded, patterned garment into ``canvas`` (float32 0..1) where ``mask``.

    Works on the mask's bounding box only, so big canvases stay cheap.
    """
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return
    y1, y2, x1, x2 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    region = mask[y1:y2, x1:x2]
    local_origin = (origin[0] - x1, origin[1] - y1)
    colour = albedo(look, region.shape, local_origin, scale)
    colour *= fold_shading(region, rng, strength, vertical)[..., None]
    colour += rng.standard_normal(colour.shape, dtype=np.float32) * np.float32(0.012)
    view = canvas[y1:y2, x1:x2]
    view[region] = np.clip(colour[region], 0.0, 1.0)
