"""Compositing maths (docs/design.md §1 steps 4, 6–10)."""

import numpy as np
import pytest

from fittingroom.compositing.stage import composite_garment, feathered_alpha
from fittingroom.crops import clip_box, segmented_garment, translation_input
from fittingroom.garments import Garment


def _photo(h=60, w=80, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _garment(h, w, box):
    mask = np.zeros((h, w), bool)
    x1, y1, x2, y2 = box
    mask[y1:y2, x1:x2] = True
    mask[y1, x1] = False  # a mask is never exactly its box
    return Garment(mask=mask, box=box, category=1, score=0.9)


def test_outside_mask_pixels_are_bit_identical():
    photo = _photo()
    garment = _garment(60, 80, (10, 5, 41, 38))
    generated = np.full((256, 256, 3), 200, np.uint8)
    for feather in (0.0, 4.0):
        out = composite_garment(photo, garment, generated, feather_px=feather)
        assert out.shape == photo.shape and out.dtype == np.uint8
        assert np.array_equal(out[~garment.mask], photo[~garment.mask])


def test_known_inputs_give_known_outputs():
    photo = np.zeros((8, 8, 3), np.uint8)
    mask = np.zeros((8, 8), bool)
    mask[2:6, 2:6] = True
    garment = Garment(mask=mask, box=(2, 2, 6, 6), category=3)
    generated = np.full((256, 256, 3), (10, 20, 30), np.uint8)
    out = composite_garment(photo, garment, generated)
    assert (out[2:6, 2:6] == (10, 20, 30)).all()
    assert (out[~mask] == 0).all()


def test_generated_image_is_placed_at_the_box_not_stretched_over_the_photo():
    photo = np.zeros((40, 40, 3), np.uint8)
    mask = np.ones((40, 40), bool)
    garment = Garment(mask=mask, box=(20, 0, 40, 40), category=1)
    generated = np.zeros((256, 256, 3), np.uint8)
    generated[:, :128] = 255  # left half white, right half black
    out = composite_garment(photo, garment, generated)
    assert out[20, 25].min() > 200 and out[20, 37].max() < 50
    assert out[20, :20].max() == 0  # inside the mask but outside the box: generated canvas is black


@pytest.mark.parametrize("box", [(0, 0, 13, 9), (67, 51, 80, 60), (3, 4, 4, 5), (79, 0, 80, 60)])
def test_border_and_odd_size_boxes(box):
    photo = _photo()
    garment = _garment(60, 80, box)
    garment.mask[box[1]:box[3], box[0]:box[2]] = True
    square = translation_input(photo, garment)
    assert square.shape == (256, 256, 3)
    out = composite_garment(photo, garment, 255 - square)
    assert np.array_equal(out[~garment.mask], photo[~garment.mask])
    assert not np.array_equal(out[garment.mask], photo[garment.mask])


def test_box_outside_image_is_clipped():
    assert clip_box((-5, -3, 100, 70), 60, 80) == (0, 0, 80, 60)
    assert clip_box((85, 65, 90, 70), 60, 80) == (79, 59, 80, 60)


def test_segmented_garment_blacks_out_background():
    photo = np.full((20, 20, 3), 100, np.uint8)
    garment = _garment(20, 20, (5, 5, 15, 15))
    crop = segmented_garment(photo, garment)
    assert crop.shape == (10, 10, 3)
    assert (crop[0, 0] == 0).all() and (crop[5, 5] == 100).all()


def test_feathered_alpha_stays_inside_mask_and_softens_edge():
    mask = np.zeros((40, 40), bool)
    mask[10:30, 10:30] = True
    alpha = feathered_alpha(mask, 6.0)
    assert alpha[~mask].max() == 0.0
    assert alpha[20, 20] == pytest.approx(1.0)
    assert 0.0 <= alpha[10, 20] < 0.5
    assert np.array_equal(feathered_alpha(mask, 0), mask.astype(np.float32))


def test_rejects_mismatched_mask():
    photo = _photo()
    garment = _garment(30, 30, (1, 1, 5, 5))
    with pytest.raises(ValueError, match="mask"):
        composite_garment(photo, garment, np.zeros((256, 256, 3), np.uint8))


@pytest.mark.parametrize("feather", [0.0, 3.0])
@pytest.mark.parametrize("box", [(20, 30, 70, 90), (0, 0, 50, 60), (60, 50, 120, 100)])
def test_the_window_around_the_garment_gives_the_whole_photos_result(feather, box):
    """Compositing in a window around the garment equals compositing over the whole photo, bit for bit,
    with feathering, the exact-colour step and the exact-pattern step, at the photo's edges too."""
    from fittingroom.compositing.stage import composite_in_place
    from fittingroom.pattern import Fabric

    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (100, 120, 3), dtype=np.uint8)
    mask = np.zeros((100, 120), bool)
    x1, y1, x2, y2 = box
    mask[y1 + 3:y2 - 2, x1 + 4:x2 - 3] = True
    mask[y1 + 10:y1 + 14, x1 + 10:x1 + 16] = False  # a hole
    garment = Garment(mask=mask, box=box, category=1)
    generated = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    stripes = np.zeros((24, 24, 3), np.uint8)
    stripes[::4] = (200, 30, 30)
    for target, fabric in ((None, None), ((50.0, 20.0, -10.0), None), ((50.0, 20.0, -10.0), Fabric(stripes, 40.0))):
        windowed = composite_garment(image, garment, generated, feather, target, fabric)
        assert np.array_equal(windowed, composite_in_place(image, garment, generated, feather, target, fabric))
