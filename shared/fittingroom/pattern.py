"""The exact-pattern step: the product's own fabric, shaded like the shopper's garment.

A per-class CycleGAN generator trained on a CPU budget recolours reliably but
paints stripes, checks and dots only faintly, and never the product's own
stripe width or print. This step, the pattern counterpart of the exact-colour
step, runs after translation for products whose style class is not ``solid``:

1. :func:`fabric_patch` cuts the largest square of fabric from inside the product
   garment (away from its outline, collar and sleeves), trimmed to whole
   pattern periods (:func:`pattern_repeat`);
2. :func:`apply_fabric` tiles it over the shopper's garment, at the scale the
   pattern has on the product relative to the garment's width, repeating it every
   whole number of periods (sub-pixel), so stripes run on across tile seams;
3. the shopper's garment shades the fabric: :func:`fold_shading` takes each
   pixel's lightness relative to its own palette colour (so the shopper's old
   stripes or checks do not come through as folds), blurred a little, and adds
   it to the fabric's lightness. Folds and shadows stay where they were.

Pure numpy; pixels outside the garment mask are returned bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fittingroom.colour import lab_to_rgb, palette_clusters, rgb_to_lab

# The smallest fabric square worth tiling (pixels on the product photo).
MIN_PATCH = 12
# A repeat shorter than this (pixels) is noise, not a pattern period.
MIN_PERIOD = 4
# Autocorrelation (of 1 at zero shift) a shift must reach to count as a period.
MIN_REPEAT_CORRELATION = 0.3
# Palette colours closer than this (CIELAB, lightness at half weight) are one colour
# in different light; a garment's own pattern colours lie further apart.
PALETTE_MERGE_DE = 14.0


@dataclass
class Fabric:
    """A patch of the product's fabric and the product garment's width (pixels) on its photo."""

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
    patch = image[cy - half:cy + half, cx - half:cx + half]
    repeat_y, repeat_x = pattern_repeat(patch)
    return Fabric(patch[:int(np.ceil(repeat_y)), :int(np.ceil(repeat_x))].copy(), width)


# A product the classifier calls solid is tiled all the same when this share of its
# fabric carries marks at least PRINT_CONTRAST (CIELAB L) away from the local
# lightness: a sparse print the classifier misses. Folds and shading are smooth and
# never count. (The other way round, a plain fabric named patterned, is tiled too:
# its plain patch keeps the generator from painting a pattern the product lacks.)
PRINT_CONTRAST, PRINT_SHARE = 16.0, 0.03


def lightness_detail(patch: np.ndarray, contrast: float = PRINT_CONTRAST) -> float:
    """Share of the patch whose lightness differs from its surroundings' (a blur over a
    tenth of the patch) by more than ``contrast``: print, stripes and dots, not folds."""
    lightness = rgb_to_lab(patch)[..., 0].astype(np.float32)
    local = cv2.GaussianBlur(lightness, (0, 0), max(1.0, min(lightness.shape) / 10.0))
    return float((np.abs(lightness - local) > contrast).mean())


def fabric_is_printed(patch: np.ndarray) -> bool:
    """Whether a fabric shows print, stripes or dots of its own (:data:`PRINT_SHARE`)."""
    return lightness_detail(patch) >= PRINT_SHARE


def _period(correlation: np.ndarray) -> float | None:
    """The first repeat (sub-pixel) of a 1-D autocorrelation, or ``None`` when nothing repeats."""
    for lag in range(MIN_PERIOD, len(correlation) - 1):
        here = correlation[lag]
        if here >= MIN_REPEAT_CORRELATION and correlation[lag - 1] < here >= correlation[lag + 1]:
            left, right = correlation[lag - 1], correlation[lag + 1]
            bend = left - 2 * here + right
            return lag + (0.5 * (left - right) / bend if bend < 0 else 0.0)
    return None


# The longest shift searched for a period, as a share of the patch side: the patch
# and its shifted self must still overlap on 40 % of it for the correlation to mean
# anything. A garment narrower than two pattern periods still yields its period.
MAX_PERIOD_SHARE = 0.6


def _axis_correlation(correlation: np.ndarray, side: int) -> np.ndarray:
    """Shifts 0 … ``MAX_PERIOD_SHARE`` × ``side`` of a linear autocorrelation, each divided by its
    overlap (the unbiased estimate), so a repeat late in the patch counts as much as an early one."""
    lags = np.arange(int(MAX_PERIOD_SHARE * side) + 2)
    return correlation[lags] * side / np.maximum(side - lags, 1)


def pattern_repeat(patch: np.ndarray) -> tuple[float, float]:
    """How far (pixels, sub-pixel) the patch's pattern repeats along y and along x.

    The period along each axis is the first strong peak of the patch's
    autocorrelation along it (stripes at any angle, checks and dot grids repeat
    along both); the repeat is the most whole periods the patch holds. An axis
    without a period (a random print) repeats at the patch's own size.
    """
    lightness = patch.astype(np.float32).mean(axis=2)
    lightness -= lightness.mean()
    height, width = lightness.shape
    # Zero padding makes the FFT's correlation linear, not circular.
    spectrum = np.fft.rfft2(lightness, s=(2 * height, 2 * width))
    correlation = np.fft.irfft2(np.abs(spectrum) ** 2, s=(2 * height, 2 * width))
    if correlation[0, 0] <= 0:
        return float(height), float(width)
    correlation /= correlation[0, 0]
    repeats = []
    for along, side in ((correlation[:, 0], height), (correlation[0, :], width)):
        period = _period(_axis_correlation(along, side))
        repeats.append(float(side) if period is None else float(period * int(side // period)))
    return repeats[0], repeats[1]


def tiled_fabric(patch: np.ndarray, height: int, width: int, scale: float) -> np.ndarray:
    """``patch`` at ``scale``, repeated every :func:`pattern_repeat` to cover ``height × width``.

    The repeat is sub-pixel, so a stripe continues across each seam instead of
    drifting by the rounding of every tile. Plain repeats (no mirroring) keep
    the pattern's orientation: mirrored tiles would turn diagonal stripes into
    chevrons.
    """
    repeat_y, repeat_x = pattern_repeat(patch)
    size = (max(2, int(round(patch.shape[1] * scale))), max(2, int(round(patch.shape[0] * scale))))
    scaled = cv2.resize(patch, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    span_y, span_x = np.float32(max(repeat_y * scale, 1.0)), np.float32(max(repeat_x * scale, 1.0))
    map_x = np.broadcast_to(np.mod(np.arange(width, dtype=np.float32), span_x)[None, :], (height, width))
    map_y = np.broadcast_to(np.mod(np.arange(height, dtype=np.float32), span_y)[:, None], (height, width))
    return cv2.remap(scaled, np.ascontiguousarray(map_x), np.ascontiguousarray(map_y), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_WRAP)


def fold_shading(image: np.ndarray, mask: np.ndarray, width: float) -> np.ndarray:
    """Lightness offsets of the garment's folds and shadows, one per mask pixel.

    Each pixel's CIELAB lightness minus the median lightness of its palette colour
    (:func:`~fittingroom.colour.palette_clusters`, up to three colours): on a
    striped or checked garment a dark stripe is not a shadow. Pixels far from
    their palette colour (anti-aliased edges between two colours) carry no
    evidence; a normalised Gaussian blur (``sigma`` ~1 % of the garment's
    ``width``) fills them in and smooths the rest.
    """
    lab = rgb_to_lab(image)
    samples = lab[mask]
    offsets = np.zeros(len(samples), np.float32)
    weights = np.zeros(len(samples), np.float32)
    weighted = samples * np.array([0.5, 1.0, 1.0], np.float32)
    labels, centres, group = palette_clusters(weighted, merge_distance=PALETTE_MERGE_DE)
    for colour in np.unique(group):
        members = np.isin(labels, np.nonzero(group == colour)[0])
        offsets[members] = samples[members, 0] - np.median(samples[members, 0])
        chroma = np.linalg.norm(samples[members, 1:] - np.median(samples[members, 1:], axis=0), axis=1)
        weights[members] = chroma <= max(4.0, 3.0 * float(np.median(chroma)))
    sigma = max(1.0, 0.012 * width)
    field = np.zeros(mask.shape, np.float32)
    evidence = np.zeros(mask.shape, np.float32)
    field[mask], evidence[mask] = offsets * weights, weights
    field = cv2.GaussianBlur(field, (0, 0), sigma)
    evidence = cv2.GaussianBlur(evidence, (0, 0), sigma)
    return (field[mask] / np.maximum(evidence[mask], 1e-3)).astype(np.float32)


def apply_fabric(
    image: np.ndarray, mask: np.ndarray, shading: np.ndarray, fabric: Fabric, shading_strength: float = 1.0,
) -> np.ndarray:
    """``image`` with the garment (``mask``) made of ``fabric``, shaded by ``shading``.

    ``shading`` is the photo whose garment (under ``mask``) gives the folds, usually
    the shopper's own photo; :func:`fold_shading` turns it into lightness offsets
    that are added to the fabric's. The pattern keeps its size relative to the
    garment's width.
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
    fabric = tiled_fabric(patch, y2 - y1, x2 - x1, scale)
    inside = mask[y1:y2, x1:x2]
    fabric_lab = rgb_to_lab(fabric[inside])
    shade = fold_shading(shading[y1:y2, x1:x2], inside, x2 - x1)
    fabric_lab[:, 0] = np.clip(fabric_lab[:, 0] + shading_strength * shade, 0.0, 100.0)
    window = result[y1:y2, x1:x2]
    window[inside] = lab_to_rgb(fabric_lab)
    return result
