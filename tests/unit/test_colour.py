"""Exact-colour step and CIEDE2000 (colour.py)."""

import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from fittingroom.colour import (
    ciede2000,
    lab_to_rgb,
    match_garment_colour,
    measure_garment_colour,
    rgb_to_lab,
)

# Sharma, Wu & Dalal (2005), "The CIEDE2000 colour-difference formula": test pairs 1, 7, 13, 17, 25, 34.
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.4900, -0.0010), (50.0, -2.4900, 0.0011), 7.2195),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
]


@pytest.mark.parametrize("lab1, lab2, expected", SHARMA_PAIRS)
def test_ciede2000_matches_published_pairs(lab1, lab2, expected):
    assert ciede2000(np.array(lab1), np.array(lab2)) == pytest.approx(expected, abs=1e-4)
    assert ciede2000(np.array(lab2), np.array(lab1)) == pytest.approx(expected, abs=1e-4)


def test_lab_round_trip_is_close():
    rgb = np.random.default_rng(0).integers(0, 256, (50, 3), dtype=np.uint8)
    assert np.abs(lab_to_rgb(rgb_to_lab(rgb)).astype(int) - rgb).max() <= 1


def _folded_garment(colour=(40, 70, 190), size=(120, 100), seed=0):
    """A solid garment with folds (sinusoidal shading) on a random background."""
    h, w = size
    rng = np.random.default_rng(seed)
    photo = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    mask = ((yy - h / 2) / (h * 0.42)) ** 2 + ((xx - w / 2) / (w * 0.4)) ** 2 < 1
    shade = 0.75 + 0.25 * np.sin(xx / 5.0) * np.cos(yy / 9.0)
    garment = np.clip(np.array(colour, float)[None, None] * shade[..., None], 0, 255).astype(np.uint8)
    photo[mask] = garment[mask]
    return photo, mask


@pytest.mark.parametrize("target_rgb", [(0, 128, 128), (128, 0, 32), (230, 200, 150), (20, 20, 60)])
def test_exact_colour_reaches_target_keeps_folds_and_outside(target_rgb):
    photo, mask = _folded_garment()
    target = tuple(float(v) for v in rgb_to_lab(np.array([target_rgb], np.uint8))[0])
    out = match_garment_colour(photo, mask, target)
    assert np.array_equal(out[~mask], photo[~mask])
    reached = np.array(measure_garment_colour(out, mask))
    assert ciede2000(reached, np.array(target)) <= 3.0
    before_l = cv2.cvtColor(photo, cv2.COLOR_RGB2Lab)[..., 0]
    after_l = cv2.cvtColor(out, cv2.COLOR_RGB2Lab)[..., 0]
    # The luminance structure is kept: compare the garment's L around its own mean.
    ys, xs = np.nonzero(mask)
    window = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    centred = [np.where(mask, l.astype(float) - l[mask].mean(), 0.0)[window] for l in (before_l, after_l)]
    span = float(np.ptp(centred[0]))
    assert structural_similarity(centred[0], centred[1], data_range=span) >= 0.9


def test_measure_ignores_a_small_print_and_rejects_empty_masks():
    photo, mask = _folded_garment(colour=(200, 30, 40))
    plain = measure_garment_colour(photo, mask)
    printed = photo.copy()
    printed[50:60, 45:55] = (255, 255, 255)
    assert ciede2000(np.array(measure_garment_colour(printed, mask)), np.array(plain)) < 2.0
    with pytest.raises(ValueError):
        measure_garment_colour(photo, np.zeros(mask.shape, bool))
    with pytest.raises(ValueError):
        match_garment_colour(photo, mask[:-1], plain)
