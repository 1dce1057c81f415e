"""Segmentation stage: output conversion, random-model inference, garment selection."""

import numpy as np
import pytest
import torch

from fittingroom.errors import BadImageError, BadRequestError, NoGarmentError
from fittingroom.garments import Garment, category_id
from fittingroom.segmentation.model import maskrcnn_mobilenet_v3_large_fpn
from fittingroom.segmentation.stage import (
    detections_to_garments,
    segment_garments,
    segment_garments_batch,
    select_garment,
)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine more threads thrash."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _output(h=40, w=30):
    masks = torch.zeros(3, 1, h, w)
    masks[0, 0, 5:20, 5:15] = 0.9
    masks[1, 0, 10:40, 0:30] = 0.8
    return {
        "boxes": torch.tensor([[5.2, 5.7, 14.9, 19.1], [-3.0, 9.5, 35.0, 44.0], [1.0, 1.0, 5.0, 5.0]]),
        "labels": torch.tensor([1, 8, 2]),
        "scores": torch.tensor([0.6, 0.9, 0.95]),
        "masks": masks,
    }


def test_detections_become_sorted_clipped_garments_and_empty_masks_drop():
    garments = detections_to_garments(_output(), score_threshold=0.5, mask_threshold=0.5)
    assert [g.category for g in garments] == [8, 1]
    assert garments[0].box == (0, 9, 30, 40)
    assert garments[1].box == (5, 5, 15, 20)
    assert garments[1].area == 15 * 10 and garments[1].mask.dtype == bool


def test_bf16_outputs_under_autocast_give_the_same_garments():
    half = {k: (v.to(torch.bfloat16) if v.is_floating_point() else v) for k, v in _output().items()}
    expected = detections_to_garments(_output(), score_threshold=0.5, mask_threshold=0.5)
    got = detections_to_garments(half, score_threshold=0.5, mask_threshold=0.5)
    assert [(g.category, g.box) for g in got] == [(g.category, g.box) for g in expected]
    assert all((a.mask == b.mask).all() for a, b in zip(got, expected))


def test_score_threshold_filters():
    garments = detections_to_garments(_output(), score_threshold=0.7, mask_threshold=0.5)
    assert [g.category for g in garments] == [8]


def _check_garment(garment, h, w):
    x1, y1, x2, y2 = garment.box
    assert all(isinstance(v, int) for v in garment.box)
    assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
    assert garment.mask.shape == (h, w) and garment.mask.dtype == bool
    ys, xs = np.nonzero(garment.mask)
    assert xs.min() >= x1 and xs.max() < x2 and ys.min() >= y1 and ys.max() < y2
    assert 1 <= garment.category <= 13


def test_random_model_returns_well_formed_garments():
    torch.manual_seed(0)
    model = maskrcnn_mobilenet_v3_large_fpn(box_score_thresh=0.0, min_size=96, max_size=128)
    image = np.random.default_rng(0).integers(0, 256, (100, 80, 3), dtype=np.uint8)
    garments = segment_garments(model, image, score_threshold=0.0, mask_threshold=0.3, device="cpu")
    assert garments, "a random model with no score threshold should still emit detections"
    scores = [g.score for g in garments]
    assert scores == sorted(scores, reverse=True)
    for garment in garments:
        _check_garment(garment, 100, 80)
    batch = segment_garments_batch(model, [image, image[:60]], score_threshold=0.0, mask_threshold=0.3, device="cpu")
    assert len(batch) == 2 and all(g.mask.shape == (60, 80) for g in batch[1])


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32),
                                 np.zeros((1, 10, 3), np.uint8)])
def test_bad_images_raise(bad):
    model = maskrcnn_mobilenet_v3_large_fpn()
    with pytest.raises(BadImageError):
        segment_garments(model, bad, device="cpu")


def _garment(category, area, score):
    mask = np.zeros((20, 20), bool)
    mask.flat[:area] = True
    return Garment(mask=mask, box=(0, 0, 20, 20), category=category, score=score)


def test_select_largest_and_by_category():
    small_top = _garment(category_id("vest"), 30, 0.9)
    big_trousers = _garment(category_id("trousers"), 200, 0.6)
    other_vest = _garment(category_id("vest"), 100, 0.7)
    garments = [small_top, big_trousers, other_vest]
    assert select_garment(garments) is big_trousers
    assert select_garment(garments, "vest") is small_top


def test_select_raises_no_garment_naming_found_categories():
    with pytest.raises(NoGarmentError):
        select_garment([])
    with pytest.raises(NoGarmentError, match="found: trousers, vest"):
        select_garment([_garment(category_id("vest"), 5, 0.9), _garment(category_id("trousers"), 5, 0.9)], "skirt")
    with pytest.raises(BadRequestError, match="unknown garment selection policy"):
        select_garment([_garment(1, 5, 0.9)], "hat")


def test_packshot_garment_finds_a_product_on_a_plain_backdrop():
    from fittingroom.data.synth_render import render_shop
    from fittingroom.segmentation.stage import packshot_garment, product_garment

    for seed in range(3):
        shot = render_shop(np.random.default_rng(seed), (256, 320), (2, "white", "stripes"))
        found = packshot_garment(shot.image)
        truth = shot.masks[0]
        # White stripes on a white sweep are the hard case: the closing bridges most of them.
        assert found is not None and (found.mask & truth).sum() / (found.mask | truth).sum() > 0.85
        assert product_garment(shot.image, []).area == found.area
    assert packshot_garment(np.full((100, 80, 3), 240, np.uint8)) is None
    with pytest.raises(NoGarmentError):
        product_garment(np.full((100, 80, 3), 240, np.uint8), [])


def test_a_product_named_twice_is_named_by_its_most_confident_detection():
    """Mask R-CNN suppresses overlaps per category only: a flat top comes back as a vest
    (0.7) and, with a slightly larger mask, as shorts (0.4). The product is the vest."""
    from fittingroom.segmentation.stage import distinct_garments, product_garment

    image = np.full((100, 100, 3), 240, np.uint8)
    vest = np.zeros((100, 100), bool)
    vest[20:80, 25:75] = True
    shorts = np.zeros((100, 100), bool)
    shorts[18:82, 24:76] = True
    collar = np.zeros((100, 100), bool)
    collar[5:12, 40:60] = True
    found = [Garment(vest, (25, 20, 75, 80), category_id("vest"), 0.7),
             Garment(shorts, (24, 18, 76, 82), category_id("shorts"), 0.4),
             Garment(collar, (40, 5, 60, 12), category_id("shorts"), 0.3)]
    assert [g.category_name for g in distinct_garments(found)] == ["vest", "shorts"]
    assert product_garment(image, found).category_name == "vest"


def test_dropping_low_scores_before_the_masks_gives_the_same_garments():
    """The starter Mask R-CNN on the sample photos and a real one: the same garments, bit for bit, when
    detections under the threshold are dropped inside the model instead of after it."""
    from pathlib import Path

    import skimage

    from fittingroom.images import SAMPLES_DIR, read_image
    from fittingroom.registry import ModelRegistry
    from fittingroom.segmentation.model import load_model
    from fittingroom.segmentation.stage import drop_detections_below
    from fittingroom.storage import MemoryStore

    model, _ = load_model(ModelRegistry.with_starter_models(MemoryStore()), "maskrcnn-mobilenet", "cpu")
    photos = [read_image(SAMPLES_DIR / "person.jpg"), read_image(SAMPLES_DIR / "style.jpg"),
              read_image(Path(skimage.__file__).parent / "data" / "astronaut.png")]
    assert model.roi_heads.score_thresh < 0.3
    everything = [segment_garments(model, photo, 0.3, device="cpu") for photo in photos]
    drop_detections_below(model, 0.3)
    pruned = [segment_garments(model, photo, 0.3, device="cpu") for photo in photos]
    assert [len(g) for g in everything] == [len(g) for g in pruned] and all(everything)
    for before, after in zip(everything, pruned):
        for a, b in zip(before, after):
            assert np.array_equal(a.mask, b.mask) and (a.box, a.category, a.score) == (b.box, b.category, b.score)
