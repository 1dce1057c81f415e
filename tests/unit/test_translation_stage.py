"""The pure translation stage: array contracts, registry loading, unknown styles."""

import numpy as np
import pytest
import torch

from fittingroom.errors import BadImageError, ModelNotFoundError, UnknownStyleError
from fittingroom.registry import ModelManifest, ModelRegistry
from fittingroom.storage import LocalFolderStore
from fittingroom.translation.networks import build_model, load_model, model_architecture
from fittingroom.registry import available_style_classes
from fittingroom.translation.stage import translate_batch, translate_garment
from fittingroom.translation.visuals import sample_grid

ARCH = model_architecture("resnet_generator_slim", ngf=4, n_blocks=1)


def make_generator():
    torch.manual_seed(0)
    return build_model(ARCH).eval()


def test_translate_garment_shape_and_dtype():
    crop = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    out = translate_garment(make_generator(), crop, device="cpu")
    assert out.shape == (256, 256, 3) and out.dtype == np.uint8
    assert out.std() > 0


def test_translate_batch_matches_single_crops():
    crops = np.random.default_rng(1).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    gen = make_generator()
    batch = translate_batch(gen, crops, device="cpu")
    assert batch.shape == crops.shape
    single = translate_garment(gen, crops[1], device="cpu")
    assert np.abs(batch[1].astype(int) - single.astype(int)).max() <= 1


@pytest.mark.parametrize("bad", [
    np.zeros((256, 256), np.uint8), np.zeros((256, 256, 3), np.float32), np.zeros((254, 256, 3), np.uint8),
])
def test_bad_crops_raise(bad):
    with pytest.raises(BadImageError):
        translate_garment(make_generator(), bad, device="cpu")


def save_generator(registry, name="red-stripes", version="v1"):
    gen = make_generator()
    manifest = ModelManifest(kind="translation", name=name, version=version, architecture=ARCH, classes=[name])
    registry.save(manifest, gen.state_dict(), half=True)
    return gen


def test_registry_round_trip_in_half(tmp_path):
    registry = ModelRegistry(LocalFolderStore(tmp_path))
    original = save_generator(registry)
    loaded, manifest = load_model(registry, "red-stripes")
    assert manifest.dtype == "float16" and manifest.architecture == ARCH
    assert not loaded.training
    crop = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    diff = translate_garment(loaded, crop, device="cpu").astype(int) - translate_garment(original, crop, device="cpu").astype(int)
    assert np.abs(diff).max() <= 2
    assert available_style_classes(registry) == ["red-stripes"]


def test_unknown_style_lists_available(tmp_path):
    registry = ModelRegistry(LocalFolderStore(tmp_path))
    save_generator(registry)
    with pytest.raises(UnknownStyleError) as info:
        load_model(registry, "blue-dots")
    assert info.value.available == ["red-stripes"]
    with pytest.raises(UnknownStyleError):
        load_model(registry, "not a key")
    with pytest.raises(ModelNotFoundError):
        load_model(registry, "red-stripes:v9")


def test_sample_grid_layout():
    rows = {name: np.full((2, 8, 8, 3), i * 10, np.uint8) for i, name in enumerate(
        ("real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B"))}
    grid = sample_grid(rows, gap=2)
    assert grid.shape == (6 * 10 - 2, 2 * 10 - 2, 3)
    assert grid[10 * 3, 0, 0] == 30 and grid[8, 0, 0] == 0
