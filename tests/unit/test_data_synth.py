"""Synthetic DeepFashion2 generator: determinism, format, landmarks, masks, crops."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fittingroom.data.deepfashion2 import polygons_to_mask, validate_annotation
from fittingroom.data.df2_landmarks import DF2_CATEGORY_NAMES, LANDMARK_COUNTS
from fittingroom.data.synth import (STYLE_CLASSES, GarmentSpec, generate_dataset, render_shop_image,
                                    render_user_image, style_index, write_sample_pair)
from fittingroom.garments import COLOURS, COLOUR_NAMES, PATTERNS

PER_CLASS = 1


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synth")
    summary = generate_dataset(root, 13, seed=3, val_fraction=4 / 13, cyclegan_per_class=PER_CLASS,
                               progress=False)
    return root, summary


def _annos(root: Path) -> list[Path]:
    return sorted(root.glob("*/annos/*.json"))


def test_layout_and_split_counts(dataset: tuple[Path, dict]) -> None:
    root, summary = dataset
    assert summary["train"]["images"] == 9 and summary["validation"]["images"] == 4
    for split, count in (("train", 9), ("validation", 4)):
        images = sorted(p.stem for p in (root / split / "image").glob("*.jpg"))
        annos = sorted(p.stem for p in (root / split / "annos").glob("*.json"))
        assert images == annos == [f"{i:06d}" for i in range(1, count + 1)]
    classes = json.loads((root / "style_classes.json").read_text())
    assert classes["classes"] == list(STYLE_CLASSES) and len(STYLE_CLASSES) == 40


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate_dataset(tmp_path / name, 4, seed=seed, cyclegan_per_class=0, progress=False)
    a, b, c = (sorted((tmp_path / n).glob("*/*/*.*")) for n in "abc")
    assert [p.relative_to(tmp_path / "a") for p in a] == [p.relative_to(tmp_path / "b") for p in b]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))
    first = lambda root: (root / "train" / "annos" / "000001.json").read_bytes()  # noqa: E731
    assert first(tmp_path / "a") != first(tmp_path / "c")


def test_every_annotation_is_valid_deepfashion2(dataset: tuple[Path, dict]) -> None:
    root, _ = dataset
    sources = set()
    for path in _annos(root):
        anno = json.loads(path.read_text())
        assert validate_annotation(anno) == [], path
        sources.add(anno["source"])
        for key in (k for k in anno if k.startswith("item")):
            item = anno[key]
            assert item["category_name"] == DF2_CATEGORY_NAMES[item["category_id"]]
            assert 1 <= item["style"] <= len(STYLE_CLASSES)
            assert len(item["landmarks"]) == 3 * LANDMARK_COUNTS[item["category_id"]]
            assert set(item["landmarks"][2::3]) <= {0, 1, 2}
    assert sources == {"user", "shop"}


def test_shop_and_user_of_a_pair_share_the_style(dataset: tuple[Path, dict]) -> None:
    root, _ = dataset
    by_pair: dict[int, list[dict]] = {}
    for path in sorted((root / "train" / "annos").glob("*.json")):
        anno = json.loads(path.read_text())
        by_pair.setdefault(anno["pair_id"], []).append(anno)
    shared = 0
    for annos in by_pair.values():
        shops = [a for a in annos if a["source"] == "shop"]
        for user in (a for a in annos if a["source"] == "user"):
            for shop in shops:
                product = (shop["item1"]["category_id"], shop["item1"]["style"])
                styles = {(v["category_id"], v["style"]) for k, v in user.items() if k.startswith("item")}
                assert product in styles
                shared += 1
    assert shared > 0


@pytest.mark.parametrize("category", range(1, 14))
def test_landmark_counts_and_inside_box(category: int) -> None:
    rng = np.random.default_rng(category)
    image, item = render_shop_image(rng, (256, 320), GarmentSpec(category, "green", "solid"))
    marks = np.asarray(item["landmarks"]).reshape(-1, 3)
    assert len(marks) == LANDMARK_COUNTS[category]
    x1, y1, x2, y2 = item["bounding_box"]
    labelled = marks[marks[:, 2] > 0]
    assert len(labelled) >= len(marks) - 2
    assert (labelled[:, 0] >= x1 - 6).all() and (labelled[:, 0] <= x2 + 6).all()
    assert (labelled[:, 1] >= y1 - 6).all() and (labelled[:, 1] <= y2 + 6).all()


def _nearest_colour(rgb: np.ndarray) -> str:
    return min(COLOUR_NAMES, key=lambda n: float(np.linalg.norm(np.asarray(COLOURS[n]) - rgb)))


@pytest.mark.parametrize("colour", ["red", "blue", "green", "purple", "black", "white"])
def test_mask_from_polygons_covers_the_garment_colour(colour: str) -> None:
    rng = np.random.default_rng(11)
    image, items = render_user_image(rng, (256, 320), [GarmentSpec(2, colour, "solid"),
                                                       GarmentSpec(8, "orange", "stripes")])
    mask = polygons_to_mask(items[0]["segmentation"], 320, 256)
    assert mask.sum() > 500
    inside = np.median(image[mask].astype(float) / 0.85, axis=0)
    assert _nearest_colour(np.clip(inside, 0, 255)) == colour
    shop, item = render_shop_image(rng, (256, 320), GarmentSpec(1, colour, "stripes"))
    shop_mask = polygons_to_mask(item["segmentation"], 320, 256)
    assert _nearest_colour(np.median(shop[shop_mask].astype(float), axis=0)) == colour
    assert np.abs(shop[~shop_mask].astype(float).mean(axis=0) - 235).max() < 25


def test_forced_garments_and_style_ids() -> None:
    rng = np.random.default_rng(2)
    _, items = render_user_image(rng, (200, 260), [(11, "yellow", "dots")])
    assert [i["category_id"] for i in items] == [11]
    assert items[0]["style"] == style_index("yellow", "dots") == STYLE_CLASSES.index("yellow-dots") + 1
    assert STYLE_CLASSES[0] == f"{COLOUR_NAMES[0]}-{PATTERNS[0]}"


def test_style_and_cyclegan_crops(dataset: tuple[Path, dict]) -> None:
    root, summary = dataset
    items = sum(summary[s]["items"] for s in ("train", "validation"))
    crops = sorted((root / "styles").glob("*/*/*.png"))
    assert len(crops) == items == summary["styles"]
    assert {p.parent.name for p in crops} <= set(STYLE_CLASSES)
    for key in STYLE_CLASSES:
        assert len(list((root / "cyclegan" / key).glob("extra_*.png"))) == PER_CLASS
    sources = sorted((root / "cyclegan" / "source").glob("*.png"))
    assert len(sources) == summary["cyclegan_source"] > 0
    with Image.open(sources[0]) as img:
        assert img.size == (256, 256)
        pixels = np.asarray(img)
    assert (pixels.reshape(-1, 3).max(axis=1) == 0).any()


def test_sample_pair(tmp_path: Path) -> None:
    person, style = write_sample_pair(tmp_path)
    for path in (person, style):
        with Image.open(path) as img:
            assert img.size == (256, 320) and img.mode == "RGB"
    assert person.name == "person.jpg" and style.name == "style.jpg"
