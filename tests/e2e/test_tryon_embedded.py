"""The main job end to end in one process, on the bundled starter models."""

from __future__ import annotations


import numpy as np
import pytest

from fittingroom.cli.tryon import build_pipeline
from fittingroom.data.synth import render_shop_image, render_user_image
from fittingroom.errors import NoGarmentError, UnknownStyleError
from fittingroom.garments import COLOURS, category_id
from fittingroom.segmentation.stage import garment_region
from fittingroom.images import SAMPLES_DIR, read_image
from fittingroom.settings import Settings



@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    settings = Settings.from_env({}, store_dir=tmp_path_factory.mktemp("store"), device="cpu", style_fallback="nearest")
    return build_pipeline(settings)


@pytest.fixture(scope="module")
def claim_check_pipeline(tmp_path_factory):
    """Every tensor through the object store (no inline payloads), as with FITTINGROOM_INLINE_MAX_BYTES=0."""
    settings = Settings.from_env({}, store_dir=tmp_path_factory.mktemp("store"), device="cpu", style_fallback="nearest",
                                 inline_max_bytes=0)
    return build_pipeline(settings)


def _colour_distance(pixels: np.ndarray, colour: str) -> float:
    return float(np.linalg.norm(pixels.reshape(-1, 3).mean(0) - np.array(COLOURS[colour], float)))


def _assert_recoloured(person: np.ndarray, result, target: str) -> None:
    mask = result.person_garment.mask
    assert result.image.shape == person.shape
    assert np.array_equal(result.image[~mask], person[~mask])
    before = _colour_distance(person[mask].astype(float), target)
    after = _colour_distance(result.image[mask].astype(float), target)
    assert after < 0.6 * before, (before, after)


def test_sample_pair_turns_the_shirt_red(pipeline):
    person, style = read_image(SAMPLES_DIR / "person.jpg"), read_image(SAMPLES_DIR / "style.jpg")
    result = pipeline.run(person, style)
    assert result.style.label.colour == "red"
    assert garment_region(result.person_garment.category) == "top"
    _assert_recoloured(person, result, "red")


def test_generated_pair_recolours_only_the_garment(pipeline):
    rng = np.random.default_rng(11)
    person, _ = render_user_image(rng, (256, 320), garments=[(category_id("long_sleeved_shirt"), "green", "solid"),
                                                           (category_id("trousers"), "black", "solid")])
    style, _ = render_shop_image(rng, (256, 320), garment=(category_id("short_sleeved_shirt"), "red", "stripes"))
    result = pipeline.run(person, style)
    assert result.style.label.colour == "red" and result.style.translation_key.startswith("red-")
    _assert_recoloured(person, result, "red")


def test_style_work_is_cached_by_content(pipeline):
    style = read_image(SAMPLES_DIR / "style.jpg")
    assert pipeline.analyse_style(style) is pipeline.analyse_style(style.copy())


def test_photo_without_garment_is_a_typed_error(pipeline):
    empty = np.full((320, 256, 3), 200, np.uint8)
    with pytest.raises(NoGarmentError):
        pipeline.run(empty, read_image(SAMPLES_DIR / "style.jpg"))


def test_untrained_style_class_names_the_trained_ones(tmp_path):
    pipeline = build_pipeline(Settings.from_env({}, store_dir=tmp_path, device="cpu", style_fallback="none"))
    pipeline.translation_classes = ["blue-solid", "green-solid"]
    with pytest.raises(UnknownStyleError, match="available classes: blue-solid, green-solid"):
        pipeline.analyse_style(read_image(SAMPLES_DIR / "style.jpg"))


def test_nearest_fallback_picks_a_trained_class(tmp_path):
    pipeline = build_pipeline(Settings.from_env({}, store_dir=tmp_path, device="cpu", style_fallback="nearest"))
    rng = np.random.default_rng(5)
    style, _ = render_shop_image(rng, (256, 320), garment=(category_id("short_sleeved_shirt"), "purple", "dots"))
    analysis = pipeline.analyse_style(style)
    assert analysis.translation_key in pipeline.translation_classes


def test_embedded_runs_the_chains_own_stage_adapters(claim_check_pipeline):
    pipeline = claim_check_pipeline
    from fittingroom.chain import CHAIN

    assert list(pipeline.stages) == [spec.name for spec in CHAIN]
    for spec in CHAIN:
        module, cls = spec.handler.split(":")
        assert type(pipeline.stages[spec.name]).__module__ == module and type(pipeline.stages[spec.name]).__name__ == cls
    person, style = read_image(SAMPLES_DIR / "person.jpg"), read_image(SAMPLES_DIR / "style.jpg")
    result = pipeline.run(person, style)
    assert list(result.timings_ms) == [spec.name for spec in CHAIN]
    assert not pipeline.store.list("requests/")  # a finished request's objects are dropped
    assert pipeline.store.list("cache/style/")  # the product's work stays cached, keyed by content


def test_a_cached_product_whose_objects_expired_is_worked_out_again(claim_check_pipeline):
    pipeline = claim_check_pipeline
    rng = np.random.default_rng(3)
    person, _ = render_user_image(rng, (256, 320), garments=[(category_id("long_sleeved_shirt"), "green", "solid")])
    style, _ = render_shop_image(rng, (256, 320), garment=(category_id("short_sleeved_shirt"), "blue", "stripes"))
    before = set(pipeline.store.list("cache/style/"))
    first = pipeline.run(person, style)
    cached = set(pipeline.store.list("cache/style/")) - before  # this product's mask and fabric
    assert {key.rsplit("/", 1)[1] for key in cached} == {"mask.npy", "fabric.npy"}
    pipeline.store.delete_prefix("cache/style/")  # what the bucket's lifecycle rule does after 7 days
    again = pipeline.run(person, style)
    assert np.array_equal(again.image, first.image)
    assert cached <= set(pipeline.store.list("cache/style/"))
