"""DeepFashion2 reader and COCO conversion, on synthetic data in the real layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO

from fittingroom.data.deepfashion2 import (REQUIRED_ITEM_FIELDS, load_rgb, polygons_to_mask, read_split,
                                           to_coco, validate_annotation)
from fittingroom.data.df2_landmarks import densify, landmark_polygon
from fittingroom.data.synth import generate_dataset
from fittingroom.garments import CATEGORIES


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("df2")
    generate_dataset(out, 10, seed=1, val_fraction=0.2, cyclegan_per_class=0, progress=False)
    return out


def test_read_split_round_trips_generated_files(root: Path) -> None:
    records = read_split(root, "train")
    assert [r.image_id for r in records] == [f"{i:06d}" for i in range(1, 9)]
    assert read_split(root / "train") == records
    for rec in records:
        anno = json.loads((root / "train" / "annos" / f"{rec.image_id}.json").read_text())
        assert rec.source == anno["source"] and rec.pair_id == anno["pair_id"]
        assert [i.category_id for i in rec.items] == [anno[f"item{k}"]["category_id"]
                                                      for k in range(1, len(rec.items) + 1)]
        assert rec.items[0].category_name == CATEGORIES[rec.items[0].category_id - 1]
        assert rec.items[0].bounding_box == [float(v) for v in anno["item1"]["bounding_box"]]
        assert load_rgb(rec.image_path).shape == (320, 256, 3)


def test_to_coco_loads_in_pycocotools_with_matching_areas(root: Path, tmp_path: Path) -> None:
    records = read_split(root, "train")
    coco_dict = to_coco(records)
    assert [c["id"] for c in coco_dict["categories"]] == list(range(1, 14))
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(coco_dict))
    coco = COCO(str(path))
    assert len(coco.getImgIds()) == len(records)
    assert len(coco.getAnnIds()) == sum(len(r.items) for r in records)
    items = {(int(r.image_id), k): it for r in records for k, it in enumerate(r.items)}
    counters: dict[int, int] = {}
    for ann in coco.loadAnns(coco.getAnnIds()):
        k = counters.get(ann["image_id"], 0)
        counters[ann["image_id"]] = k + 1
        item = items[(ann["image_id"], k)]
        assert ann["iscrowd"] == 0 and ann["category_id"] == item.category_id
        x1, y1, x2, y2 = item.bounding_box
        assert ann["bbox"] == [x1, y1, x2 - x1, y2 - y1]
        rle_area = coco.annToMask(ann).sum()
        assert rle_area == pytest.approx(ann["area"], rel=0.01)
        assert rle_area == pytest.approx(polygons_to_mask(item.segmentation, 320, 256).sum(), rel=0.12)


def test_landmark_polygons_trace_the_garment(root: Path) -> None:
    records = read_split(root, "train")
    seg, dense = to_coco(records), to_coco(records, polygon_source="landmarks")
    ious = []
    for a, b in zip(seg["annotations"], dense["annotations"]):
        assert len(b["segmentation"]) == 1 and len(b["segmentation"][0]) > len(a["segmentation"][0]) / 2
        ma, mb = polygons_to_mask(a["segmentation"], 320, 256), polygons_to_mask(b["segmentation"], 320, 256)
        ious.append((ma & mb).sum() / (ma | mb).sum())
    assert np.median(ious) > 0.75
    with pytest.raises(ValueError, match="polygon_source"):
        to_coco(records, polygon_source="boxes")


def test_densify_caps_vertex_spacing() -> None:
    square = np.array([[0.0, 0.0], [40.0, 0.0], [40.0, 40.0], [0.0, 40.0]])
    dense = densify(square, 4.0)
    gaps = np.linalg.norm(np.roll(dense, -1, axis=0) - dense, axis=1)
    assert len(dense) == 40 and gaps.max() <= 4.0 + 1e-9
    assert landmark_polygon(9, [0.0] * 24, 100, 100) == []


def test_polygons_to_mask_fills_the_polygon() -> None:
    mask = polygons_to_mask([[2, 3, 11, 3, 11, 12, 2, 12], [0, 0, 1]], 20, 20)
    assert mask.dtype == bool and mask.sum() == 100 and mask[3:13, 2:12].all()


def _copy_one(root: Path, tmp_path: Path) -> tuple[Path, dict]:
    split = tmp_path / "split"
    (split / "annos").mkdir(parents=True)
    (split / "image").mkdir()
    shutil.copy(root / "train" / "image" / "000001.jpg", split / "image" / "000001.jpg")
    anno = json.loads((root / "train" / "annos" / "000001.json").read_text())
    return split, anno


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda a: a["item1"].pop("landmarks"), "item1.landmarks: missing"),
        (lambda a: a["item1"].update(category_id=14), "item1.category_id"),
        (lambda a: a["item1"].update(landmarks=[1, 2, 2]), "item1.landmarks: 1 landmarks"),
        (lambda a: a["item1"].update(bounding_box=[5, 5, 1]), "item1.bounding_box"),
        (lambda a: a["item1"].update(segmentation=[[1, 2, 3]]), "item1.segmentation[0]"),
        (lambda a: a.update(source="studio"), "source"),
        (lambda a: a["item1"].update(occlusion=7), "item1.occlusion"),
    ],
)
def test_malformed_annotation_names_file_and_field(root: Path, tmp_path: Path, breakage, message: str) -> None:
    split, anno = _copy_one(root, tmp_path)
    breakage(anno)
    (split / "annos" / "000001.json").write_text(json.dumps(anno))
    with pytest.raises(ValueError, match="000001.json") as info:
        read_split(split)
    assert message in str(info.value)


def test_unreadable_json_missing_image_and_missing_folders(root: Path, tmp_path: Path) -> None:
    split, _ = _copy_one(root, tmp_path)
    (split / "annos" / "000001.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_split(split)
    (split / "annos" / "000001.json").write_text((root / "train" / "annos" / "000002.json").read_text())
    (split / "image" / "000001.jpg").rename(split / "image" / "000009.jpg")
    with pytest.raises(ValueError, match="image .* is missing"):
        read_split(split)
    with pytest.raises(ValueError, match="image/' and 'annos/'"):
        read_split(tmp_path, "nothing-here")


def test_real_deepfashion2_item_is_accepted() -> None:
    real = {"source": "user", "pair_id": 1, "item1": {
        "segmentation": [[257.0, 35.0, 261.0, 89.0, 292.0, 89.0]], "scale": 3, "viewpoint": 2, "zoom_in": 1,
        "landmarks": [0] * 75, "style": 0, "bounding_box": [249, 26, 460, 311], "category_id": 1,
        "occlusion": 2, "category_name": "short sleeve top"}}
    assert validate_annotation(real) == []
    assert set(REQUIRED_ITEM_FIELDS) == set(real["item1"])
