"""Exact-pattern step (pattern.py): the product's fabric tiled onto the garment, shaded."""

import cv2
import numpy as np
import pytest

from fittingroom.pattern import (
    Fabric,
    apply_fabric,
    fabric_is_printed,
    fabric_patch,
    fold_shading,
    pattern_repeat,
    tiled_fabric,
)


def _striped_product(size=200, period=10):
    image = np.full((size, size, 3), 240, np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    mask = (np.abs(xx - size / 2) < size * 0.35) & (np.abs(yy - size / 2) < size * 0.4)
    stripes = (yy // (period // 2)) % 2 == 0
    image[mask & stripes] = (200, 30, 40)
    image[mask & ~stripes] = (20, 20, 30)
    return image, mask


def test_fabric_patch_lies_inside_the_garment():
    image, mask = _striped_product()
    fabric = fabric_patch(image, mask)
    assert fabric is not None and min(fabric.patch.shape[:2]) >= 80
    assert fabric.patch.shape[0] % 10 == 0  # whole stripe periods top to bottom
    assert fabric.garment_width == pytest.approx(140, abs=2)
    assert not np.any(np.all(fabric.patch == 240, axis=-1))  # no background pixel
    assert fabric_patch(image, np.zeros_like(mask)) is None
    thin = np.zeros_like(mask)
    thin[50:150, 100:104] = True
    assert fabric_patch(image, thin) is None


def test_applied_fabric_carries_the_stripes_and_the_folds_and_nothing_outside():
    product, product_mask = _striped_product(period=10)
    fabric = fabric_patch(product, product_mask)
    h, w = 240, 180
    person = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), bool)
    mask[40:220, 20:160] = True  # 140 px wide, like the product: same stripe period
    shading = np.zeros((h, w, 3), np.uint8)
    fold = (np.arange(w) >= 90)[None, :].repeat(h, 0)
    shading[:] = 120
    shading[fold] = 60  # the right half of the garment is in shadow
    out = apply_fabric(person, mask, shading, fabric)
    assert np.array_equal(out[~mask], person[~mask])
    column = out[60:200, 50, 0].astype(float)  # red channel down the lit half
    spectrum = np.abs(np.fft.rfft(column - column.mean()))
    period = len(column) / (np.argmax(spectrum[1:]) + 1)
    assert period == pytest.approx(10, abs=1.5)
    lit, shaded = out[60:200, 30:80].mean(), out[60:200, 110:150].mean()
    assert shaded < lit - 10


def test_mismatched_shapes_are_rejected():
    product, product_mask = _striped_product()
    fabric = fabric_patch(product, product_mask)
    with pytest.raises(ValueError):
        apply_fabric(product, product_mask[:-1], product, fabric)
    with pytest.raises(ValueError):
        fabric_patch(product, product_mask[:-1])
    assert isinstance(fabric, Fabric)


def test_the_shoppers_own_stripes_are_not_taken_for_folds():
    h, w = 200, 160
    yy, xx = np.mgrid[0:h, 0:w]
    mask = np.ones((h, w), bool)
    shopper = np.where((((xx + yy) // 8) % 2 == 0)[..., None], np.uint8([200, 30, 40]), np.uint8([235, 235, 230]))
    shadow = xx >= 80  # the right half is in shadow
    shopper = np.where(shadow[..., None], (shopper * 0.8).astype(np.uint8), shopper)
    offsets = fold_shading(shopper, mask, w).reshape(h, w)
    lit, dark = offsets[20:180, 10:70], offsets[20:180, 90:150]
    assert lit.std() < 3 and dark.std() < 3  # the diagonal stripes are gone
    assert np.median(dark) < np.median(lit) - 10  # the shadow is kept


def _diagonal_stripes(height, width, period):
    yy, xx = np.mgrid[0:height, 0:width].astype(float)
    phase = ((xx + yy) / np.sqrt(2) / period) % 1.0
    return np.where((phase < 0.5)[..., None], np.uint8([200, 30, 40]), np.uint8([20, 20, 30]))


def test_tiled_fabric_continues_the_stripes_across_seams():
    period = 9.3  # not a whole number of pixels, at 45 degrees: 13.15 px along each axis
    cloth = _diagonal_stripes(64, 64, period)
    truth = _diagonal_stripes(300, 300, period).astype(float).mean(axis=2)
    repeat_y, repeat_x = pattern_repeat(cloth)
    assert repeat_y == pytest.approx(4 * period * np.sqrt(2), abs=0.5)
    assert repeat_x == pytest.approx(4 * period * np.sqrt(2), abs=0.5)

    def agreement(tiled):
        tiled = tiled.astype(float).mean(axis=2)
        return max(float(np.corrcoef(tiled[:, :240].ravel(), truth[:256, dx:dx + 240].ravel())[0, 1]) for dx in range(20))

    plain = np.tile(cloth, (5, 5, 1))[:256, :256]  # whole-patch repeats: a seam every 64 px
    assert agreement(tiled_fabric(cloth, 256, 256, 1.0)) > 0.75 > agreement(plain) + 0.3


def test_a_patch_holding_less_than_two_periods_still_repeats_at_its_period():
    period = 40.0 / np.sqrt(2)  # 40 px along each axis; the 68 px patch holds 1.7 of them
    repeat_y, repeat_x = pattern_repeat(_diagonal_stripes(68, 68, period))
    assert repeat_y == pytest.approx(40.0, abs=0.5) and repeat_x == pytest.approx(40.0, abs=0.5)


def test_a_patch_without_a_repeat_repeats_at_its_size():
    noise = np.random.default_rng(1).integers(0, 256, (50, 40, 3), dtype=np.uint8)
    assert pattern_repeat(noise) == (50.0, 40.0)


def _shaded_plain(size: int = 120) -> np.ndarray:
    """A plain fabric under a broad fold: lightness sweeps 40 levels across it, with weave noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    fold = 40.0 * np.sin(np.pi * (xx + 0.5 * yy) / size)
    noise = np.random.default_rng(3).normal(0, 2.0, (size, size))
    base = np.array([40.0, 150.0, 60.0])
    return np.clip(base + (fold + noise)[..., None], 0, 255).astype(np.uint8)


def _sparse_print(size: int = 120) -> np.ndarray:
    """The plain fabric with a few small dark marks (about 5 % of it), like a scattered print."""
    cloth = _shaded_plain(size)
    for cy, cx in ((20, 25), (30, 90), (70, 50), (95, 20), (100, 95), (55, 105)):
        cv2.circle(cloth, (cx, cy), 6, (25, 20, 60), -1)
    return cloth


def test_a_sparse_print_shows_as_printed_and_a_plain_fabric_under_a_fold_does_not():
    assert fabric_is_printed(_sparse_print())
    assert not fabric_is_printed(_shaded_plain())
    dots = _shaded_plain()
    for cy in range(10, 120, 24):
        for cx in range(10, 120, 24):
            cv2.circle(dots, (cx, cy), 5, (230, 220, 200), -1)
    assert fabric_is_printed(dots)
