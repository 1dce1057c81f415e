"""Style crop folders and label-preserving augmentation."""

import numpy as np
import pytest
from PIL import Image

from fittingroom.garments import COLOURS
from fittingroom.style.dataset import StyleCropDataset, augment_crop, scan_style_split


def _write(root, split, key, count, size=(40, 30)):
    folder = root / "styles" / split / key
    folder.mkdir(parents=True, exist_ok=True)
    colour = COLOURS[key.split("-")[0]]
    for i in range(count):
        crop = np.zeros((*size, 3), np.uint8)
        crop[5:-5, 5:-5] = colour
        Image.fromarray(crop).save(folder / f"{i:04d}.png")


def test_scan_and_labels(tmp_path):
    _write(tmp_path, "train", "red-solid", 2)
    _write(tmp_path, "train", "blue-dots", 3)
    ds = StyleCropDataset(tmp_path, "train")
    assert len(ds) == 5
    image, colour, pattern = ds[0]
    assert image.shape == (3, 96, 96) and 0.0 <= image.min() and image.max() <= 1.0
    assert (ds.colours[colour], ds.patterns[pattern]) == ("blue", "dots")
    assert {s.colour for s in scan_style_split(tmp_path, "train")} == {"red", "blue"}


def test_bad_folder_name_and_missing_split_are_reported(tmp_path):
    with pytest.raises(FileNotFoundError):
        scan_style_split(tmp_path, "validation")
    _write(tmp_path, "train", "red-solid", 1)
    (tmp_path / "styles" / "train" / "sparkly").mkdir()
    with pytest.raises(ValueError, match="sparkly"):
        scan_style_split(tmp_path, "train")


def test_classes_outside_the_model_vocabulary_are_rejected(tmp_path):
    _write(tmp_path, "train", "green-checks", 1)
    with pytest.raises(ValueError, match="green"):
        StyleCropDataset(tmp_path, "train", colours=["red"], patterns=["checks"])


def test_augmentation_keeps_background_black_and_hue():
    img = np.zeros((96, 96, 3), np.uint8)
    img[20:76, 30:66] = COLOURS["orange"]
    rng = np.random.default_rng(0)
    for _ in range(20):
        out = augment_crop(img, rng, jitter=0.15, scale_min=0.8)
        assert out.shape == img.shape and out.dtype == np.uint8
        fg = out.max(axis=2) > 0
        assert 0.6 * 56 * 36 < fg.sum() <= 56 * 36 * 1.05
        mean = out[fg].mean(axis=0)
        ratio = mean / mean.sum()
        target = np.array(COLOURS["orange"]) / sum(COLOURS["orange"])
        assert np.abs(ratio - target).max() < 0.05


def test_edge_trim_blacks_out_only_the_garment_edge():
    img = np.zeros((96, 96, 3), np.uint8)
    img[16:80, 24:72] = COLOURS["blue"]
    garment = img.any(axis=2)
    trimmed = [augment_crop(img, np.random.default_rng(seed), jitter=0.0, scale_min=1.0, edge_trim=0.12)
               for seed in range(8)]
    kept = [out.any(axis=2) for out in trimmed]
    assert all(not (k & ~garment).any() for k in kept), "the trim added garment pixels"
    assert all(k[48, 48] for k in kept), "the trim reached the garment's centre"
    assert len({int(k.sum()) for k in kept}) > 1, "the trim width is not random"
    assert min(int(k.sum()) for k in kept) < garment.sum()
