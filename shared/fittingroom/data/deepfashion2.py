"""Reader for the DeepFashion2 folder layout, and its conversion to COCO instances.

A split folder holds ``image/NNNNNN.jpg`` and ``annos/NNNNNN.json``; each json has
the image-level ``source`` and ``pair_id`` and one ``itemK`` object per garment
(see the DeepFashion2 README). Real DeepFashion2 folders and the synthetic ones
written by :mod:`fittingroom.data.synth` load through the same code.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from fittingroom.data.df2_landmarks import LANDMARK_COUNTS, landmark_polygon
from fittingroom.garments import CATEGORIES, NUM_CATEGORIES, category_name

REQUIRED_ITEM_FIELDS: tuple[str, ...] = (
    "category_id",
    "category_name",
    "style",
    "bounding_box",
    "segmentation",
    "landmarks",
    "scale",
    "occlusion",
    "zoom_in",
    "viewpoint",
)
# DeepFashion2's documented ranges for the per-item variation labels.
_LABEL_RANGES: dict[str, tuple[int, int]] = {
    "scale": (1, 3),
    "occlusion": (1, 3),
    "zoom_in": (1, 3),
    "viewpoint": (1, 3),
}
POLYGON_SOURCES: tuple[str, ...] = ("segmentation", "landmarks")


@dataclass
class GarmentAnnotation:
    """One ``itemK`` of a DeepFashion2 annotation.

    ``category_name`` is our canonical name for ``category_id`` (DeepFashion2's own
    files spell it "short sleeve top" etc.; the id is what counts).
    """

    category_id: int
    category_name: str
    style: int
    bounding_box: list[float]
    segmentation: list[list[float]]
    landmarks: list[float]
    scale: int
    occlusion: int
    zoom_in: int
    viewpoint: int


@dataclass
class ImageRecord:
    """One annotated image of a split: its id, path, domain and garments."""

    image_id: str
    image_path: Path
    source: str
    pair_id: int
    items: list[GarmentAnnotation] = field(default_factory=list)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _item_problems(name: str, item: object) -> list[str]:
    """Problems with one ``itemK`` object, each naming the field."""
    if not isinstance(item, dict):
        return [f"{name}: is not an object"]
    problems = [f"{name}.{key}: missing" for key in REQUIRED_ITEM_FIELDS if key not in item]
    cat = item.get("category_id")
    if "category_id" in item and not (isinstance(cat, int) and 1 <= cat <= NUM_CATEGORIES):
        problems.append(f"{name}.category_id: {cat!r} is not an int in 1..{NUM_CATEGORIES}")
    if "category_name" in item and not isinstance(item["category_name"], str):
        problems.append(f"{name}.category_name: not a string")
    if "style" in item and not (isinstance(item["style"], int) and item["style"] >= 0):
        problems.append(f"{name}.style: {item['style']!r} is not an int >= 0")
    for key, (low, high) in _LABEL_RANGES.items():
        if key in item and not (isinstance(item[key], int) and low <= item[key] <= high):
            problems.append(f"{name}.{key}: {item[key]!r} is not an int in {low}..{high}")
    box = item.get("bounding_box")
    if "bounding_box" in item and not (
        isinstance(box, list) and len(box) == 4 and all(map(_is_number, box))
        and box[2] >= box[0] and box[3] >= box[1]
    ):
        problems.append(f"{name}.bounding_box: {box!r} is not [x1, y1, x2, y2] with x2>=x1, y2>=y1")
    problems += _polygon_problems(name, item.get("segmentation")) if "segmentation" in item else []
    problems += _landmark_problems(name, item) if "landmarks" in item else []
    return problems


def _polygon_problems(name: str, segmentation: object) -> list[str]:
    if not isinstance(segmentation, list) or not segmentation:
        return [f"{name}.segmentation: not a non-empty list of polygons"]
    for k, poly in enumerate(segmentation):
        if not (isinstance(poly, list) and len(poly) % 2 == 0 and all(map(_is_number, poly))):
            return [f"{name}.segmentation[{k}]: not a flat list of x, y numbers"]
    return []


def _landmark_problems(name: str, item: dict) -> list[str]:
    marks = item["landmarks"]
    if not (isinstance(marks, list) and all(map(_is_number, marks)) and len(marks) % 3 == 0):
        return [f"{name}.landmarks: not a flat list of x, y, v triplets"]
    expected = LANDMARK_COUNTS.get(item.get("category_id"))  # type: ignore[arg-type]
    if expected is not None and len(marks) != 3 * expected:
        return [f"{name}.landmarks: {len(marks) // 3} landmarks, category needs {expected}"]
    return []


def validate_annotation(anno: dict) -> list[str]:
    """All problems with one DeepFashion2 annotation dict; empty when it is valid."""
    if not isinstance(anno, dict):
        return ["annotation: is not a JSON object"]
    problems = []
    if anno.get("source") not in ("user", "shop"):
        problems.append(f"source: {anno.get('source')!r} is not 'user' or 'shop'")
    if not isinstance(anno.get("pair_id"), int):
        problems.append(f"pair_id: {anno.get('pair_id')!r} is not an int")
    items = sorted((k for k in anno if k.startswith("item")), key=_item_number)
    if not items:
        problems.append("item1: missing (no garments)")
    for key in items:
        problems += _item_problems(key, anno[key])
    return problems


def _item_number(key: str) -> int:
    suffix = key[4:]
    return int(suffix) if suffix.isdigit() else 10**9


def parse_annotation(anno: dict) -> list[GarmentAnnotation]:
    """Items of a validated annotation dict, in ``item1, item2, ...`` order."""
    keys = sorted((k for k in anno if k.startswith("item")), key=_item_number)
    return [
        GarmentAnnotation(
            category_id=it["category_id"],
            category_name=category_name(it["category_id"]),
            style=it["style"],
            bounding_box=[float(v) for v in it["bounding_box"]],
            segmentation=[[float(v) for v in poly] for poly in it["segmentation"]],
            landmarks=[float(v) for v in it["landmarks"]],
            scale=it["scale"],
            occlusion=it["occlusion"],
            zoom_in=it["zoom_in"],
            viewpoint=it["viewpoint"],
        )
        for it in (anno[k] for k in keys)
    ]


def read_split(root: Path, split: str | None = None, progress: bool = False) -> list[ImageRecord]:
    """Read every annotated image of a DeepFashion2 split, sorted by image id.

    ``root/split`` (or ``root`` itself when ``split`` is None) must hold ``image/``
    and ``annos/``. Raises ValueError naming the file and field of the first
    malformed annotation, or a missing image.
    """
    folder = Path(root) / split if split else Path(root)
    annos, images = folder / "annos", folder / "image"
    if not annos.is_dir() or not images.is_dir():
        raise ValueError(f"{folder}: expected DeepFashion2 folders 'image/' and 'annos/'")
    paths = sorted(annos.glob("*.json"))
    return [_read_record(p, images) for p in tqdm(paths, desc=f"read {folder.name}", disable=not progress)]


def _read_record(path: Path, images: Path) -> ImageRecord:
    try:
        anno = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    problems = validate_annotation(anno)
    if problems:
        raise ValueError(f"{path}: malformed DeepFashion2 annotation: {'; '.join(problems)}")
    image_path = images / f"{path.stem}.jpg"
    if not image_path.is_file():
        raise ValueError(f"{path}: image {image_path} is missing")
    return ImageRecord(path.stem, image_path, anno["source"], anno["pair_id"], parse_annotation(anno))


def load_rgb(path: Path | str) -> np.ndarray:
    """Decode an image file as an ``H x W x 3`` uint8 RGB array."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def decode_rgb(data: bytes) -> np.ndarray:
    """Decode an image file's bytes (a shard member) as :func:`load_rgb` decodes the file."""
    return load_rgb(io.BytesIO(data))


def polygons_to_mask(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    """Rasterise flat polygons (union, even-odd free) into an ``H x W`` bool mask."""
    mask = np.zeros((height, width), dtype=np.uint8)
    for poly in polygons:
        if len(poly) < 6:
            continue
        pts = np.round(np.asarray(poly, dtype=np.float64).reshape(-1, 2)).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1)
    return mask.astype(bool)


def _item_polygons(item: GarmentAnnotation, polygon_source: str, width: int, height: int) -> list[list[float]]:
    """COCO polygons for one item; landmark polygons fall back to the segmentation."""
    polygons = [p for p in item.segmentation if len(p) >= 6]
    if polygon_source == "landmarks":
        dense = landmark_polygon(item.category_id, item.landmarks, width, height)
        polygons = [dense] if dense else polygons
    return polygons


def _coco_annotation(ann_id: int, image_id: int, item: GarmentAnnotation, polygons: list[list[float]],
                     width: int, height: int) -> dict:
    from pycocotools import mask as mask_utils

    rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    x1, y1, x2, y2 = item.bounding_box
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": item.category_id,
        "segmentation": polygons,
        "area": float(mask_utils.area(rle)),
        "bbox": [x1, y1, x2 - x1, y2 - y1],
        "iscrowd": 0,
        "style": item.style,
    }


def to_coco(records: list[ImageRecord], polygon_source: str = "segmentation", progress: bool = False) -> dict:
    """COCO instances JSON for Mask R-CNN training from DeepFashion2 records.

    ``polygon_source="segmentation"`` keeps the annotated polygons.
    ``"landmarks"`` replaces each item's polygons with one dense polygon traced
    through its labelled outline landmarks in DeepFashion2's contour order (see
    :mod:`fittingroom.data.df2_landmarks`), with extra points every 4 px along each
    edge; items with fewer than three outline landmarks keep their segmentation.
    Image ids are the numeric file names (DeepFashion2's own convention).
    """
    if polygon_source not in POLYGON_SOURCES:
        raise ValueError(f"polygon_source {polygon_source!r} not in {POLYGON_SOURCES}")
    images, annotations = [], []
    for rec in tqdm(records, desc="to coco", disable=not progress):
        with Image.open(rec.image_path) as img:
            width, height = img.size
        image_id = int(rec.image_id)
        images.append({"id": image_id, "file_name": rec.image_path.name, "width": width,
                       "height": height, "source": rec.source, "pair_id": rec.pair_id})
        for item in rec.items:
            polygons = _item_polygons(item, polygon_source, width, height)
            if polygons:
                annotations.append(_coco_annotation(len(annotations) + 1, image_id, item,
                                                    polygons, width, height))
    categories = [{"id": i + 1, "name": name, "supercategory": "clothes"}
                  for i, name in enumerate(CATEGORIES)]
    return {"images": images, "annotations": annotations, "categories": categories}
