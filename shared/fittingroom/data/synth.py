"""Deterministic synthetic data in the exact DeepFashion2 layout, plus style and CycleGAN crops.

``generate_dataset`` writes::

    out/train/image/000001.jpg, out/train/annos/000001.json, ...   (DeepFashion2 form)
    out/validation/image/..., out/validation/annos/...
    out/style_classes.json                       style id -> "<colour>-<pattern>"
    out/styles/{train,validation}/<key>/<image>_<item>.png   masked box crops
    out/cyclegan/source/*.png                    256x256 masked crops, all styles
    out/cyclegan/<key>/*.png                     256x256 masked crops of one style

Images come in DeepFashion2's order: for each product (``pair_id``) its user
photos, then its shop photo; the last ``val_fraction`` of images form the
validation split (so one pair may straddle the boundary). Every picture is drawn
from ``numpy.random.default_rng([seed, index])``: same seed, same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from fittingroom.data.synth_annotate import STYLE_CLASSES, style_index
from fittingroom.data.synth_render import (GarmentSpec, Rendered, complete_outfit, random_spec, render_shop,
                                           render_shop_image, render_user, render_user_image)
from fittingroom.data.synth_shapes import BOTTOMS, DRESSES, TOPS
from fittingroom.garments import parse_style_key

__all__ = ["GarmentSpec", "STYLE_CLASSES", "generate_dataset", "masked_crop", "render_shop_image",
           "render_user_image", "style_index", "write_sample_pair"]

ALL_CATEGORIES = TOPS + BOTTOMS + DRESSES
CYCLEGAN_SIZE = 256


@dataclass(frozen=True)
class _Job:
    """One picture to render: where it goes and what it shows."""

    index: int
    split: str
    image_id: str
    source: str
    pair_id: int
    product: GarmentSpec


def _plan(n: int, seed: int, val_fraction: float, shop_fraction: float) -> list[_Job]:
    """Products and the DeepFashion2-ordered list of pictures of them."""
    rng = np.random.default_rng([seed, 2**31])
    n_shop = int(round(n * shop_fraction))
    n_products = n_shop if n_shop else max(1, (n + 2) // 3)
    products = [random_spec(rng, ALL_CATEGORIES) for _ in range(n_products)]
    owners = sorted(int(i % n_products) for i in range(n - n_shop))
    sequence = []
    for p in range(n_products):
        sequence += [("user", p)] * owners.count(p) + [("shop", p)] * (p < n_shop)
    n_val = int(round(n * val_fraction))
    jobs, counters = [], {"train": 0, "validation": 0}
    for index, (source, p) in enumerate(sequence):
        split = "validation" if index >= n - n_val else "train"
        counters[split] += 1
        jobs.append(_Job(index, split, f"{counters[split]:06d}", source, p + 1, products[p]))
    return jobs


def _render(job: _Job, seed: int, size: tuple[int, int]) -> Rendered:
    """Render a job, retrying with a new draw in the rare case nothing stays visible."""
    for attempt in range(20):
        rng = np.random.default_rng([seed, job.index, attempt])
        if job.source == "shop":
            out = render_shop(rng, size, job.product)
        else:
            out = render_user(rng, size, complete_outfit(rng, job.product))
        if out.items:
            return out
    raise RuntimeError(f"could not render a visible garment for picture {job.index}")


def masked_crop(image: np.ndarray, mask: np.ndarray, box: list[int]) -> np.ndarray:
    """The box crop of an image with every pixel outside the mask set to black."""
    x1, y1, x2, y2 = box
    return np.where(mask[y1:y2, x1:x2, None], image[y1:y2, x1:x2], 0).astype(np.uint8)


def _write_rgb(path: Path, image: np.ndarray, jpeg_quality: int = 92) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if path.suffix == ".jpg" else []
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params):
        raise OSError(f"could not write {path}")


def _square(crop: np.ndarray) -> np.ndarray:
    return cv2.resize(crop, (CYCLEGAN_SIZE, CYCLEGAN_SIZE), interpolation=cv2.INTER_AREA)


def _write_picture(out: Path, job: _Job, pic: Rendered) -> dict[str, int]:
    """Image, annotation and every crop of one rendered picture; returns counts."""
    folder = out / job.split
    _write_rgb(folder / "image" / f"{job.image_id}.jpg", pic.image)
    anno = {"source": job.source, "pair_id": job.pair_id}
    anno.update({f"item{k}": item for k, item in enumerate(pic.items, start=1)})
    (folder / "annos").mkdir(parents=True, exist_ok=True)
    (folder / "annos" / f"{job.image_id}.json").write_text(json.dumps(anno))
    counts = {"styles": 0, "cyclegan_source": 0, "cyclegan_class": 0}
    for k, (item, mask, spec) in enumerate(zip(pic.items, pic.masks, pic.specs), start=1):
        crop = masked_crop(pic.image, mask, item["bounding_box"])
        key = STYLE_CLASSES[item["style"] - 1]
        name = f"{job.image_id}_{k}.png"
        _write_rgb(out / "styles" / job.split / key / name, crop)
        counts["styles"] += 1
        if job.split == "train":
            _write_rgb(out / "cyclegan" / key / name, _square(crop))
            counts["cyclegan_class"] += 1
            if job.source == "user":
                _write_rgb(out / "cyclegan" / "source" / name, _square(crop))
                counts["cyclegan_source"] += 1
    return counts


def _write_extras(out: Path, seed: int, per_class: int, progress: bool) -> int:
    """``per_class`` standalone garments of every style class for the CycleGAN folders."""
    total = len(STYLE_CLASSES) * per_class
    with tqdm(total=total, desc="cyclegan extras", disable=not progress) as bar:
        for c, key in enumerate(STYLE_CLASSES):
            colour, pattern = parse_style_key(key)
            for k in range(per_class):
                rng = np.random.default_rng([seed, 2**32, c, k])
                spec = GarmentSpec(int(rng.choice(ALL_CATEGORIES)), colour, pattern, int(rng.integers(2**31 - 1)))
                pic = render_shop(rng, (CYCLEGAN_SIZE, CYCLEGAN_SIZE), spec)
                crop = masked_crop(pic.image, pic.masks[0], pic.items[0]["bounding_box"])
                _write_rgb(out / "cyclegan" / key / f"extra_{k:04d}.png", _square(crop))
                bar.update()
    return total


def generate_dataset(out: Path, n: int, seed: int = 0, val_fraction: float = 54 / 350,
                     size: tuple[int, int] = (256, 320), shop_fraction: float = 0.25,
                     cyclegan_per_class: int = 40, progress: bool = True) -> dict:
    """Write ``n`` synthetic DeepFashion2 pictures and the derived crops under ``out``.

    ``size`` is (width, height). Returns counts: images and items per split,
    style crops, CycleGAN source crops and per-class CycleGAN images.
    """
    if n < 1 or not 0.0 <= val_fraction < 1.0 or not 0.0 <= shop_fraction <= 1.0:
        raise ValueError("need n >= 1, 0 <= val_fraction < 1 and 0 <= shop_fraction <= 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    classes = {"classes": list(STYLE_CLASSES), "style_id": {k: i + 1 for i, k in enumerate(STYLE_CLASSES)}}
    (out / "style_classes.json").write_text(json.dumps(classes, indent=1))
    summary = {"train": {"images": 0, "items": 0}, "validation": {"images": 0, "items": 0},
               "styles": 0, "cyclegan_source": 0, "cyclegan_class": 0}
    for job in tqdm(_plan(n, seed, val_fraction, shop_fraction), desc="synth images", disable=not progress):
        pic = _render(job, seed, size)
        counts = _write_picture(out, job, pic)
        summary[job.split]["images"] += 1
        summary[job.split]["items"] += len(pic.items)
        for key, value in counts.items():
            summary[key] += value
    summary["cyclegan_class"] += _write_extras(out, seed, cyclegan_per_class, progress)
    return summary


def _pick(renders: Iterable[Rendered], accept: Callable[[Rendered], bool]) -> Rendered:
    """First render that passes ``accept`` (the last one if none does)."""
    pic = None
    for pic in renders:
        if accept(pic):
            return pic
    return pic  # type: ignore[return-value]


def write_sample_pair(out_dir: Path, seed: int = 7) -> tuple[Path, Path]:
    """Demo inputs: person.jpg (solid blue short_sleeved_shirt + trousers, 256x320,
    seen from the front, shirt unoccluded) and style.jpg (a red-stripes
    short_sleeved_shirt product photo)."""
    out_dir = Path(out_dir)
    outfit = [GarmentSpec(1, "blue", "solid", seed), GarmentSpec(8, "black", "solid", seed + 1)]
    person = _pick(
        (render_user(np.random.default_rng([seed, k]), (256, 320), outfit) for k in range(50)),
        lambda p: len(p.items) == 2 and p.items[0]["viewpoint"] == 2 and p.items[0]["zoom_in"] == 1
        and all(v in (0, 2) for v in p.items[0]["landmarks"][2::3]),
    )
    style = render_shop(np.random.default_rng([seed, 2**31]), (256, 320), GarmentSpec(1, "red", "stripes", seed))
    person_path, style_path = out_dir / "person.jpg", out_dir / "style.jpg"
    _write_rgb(person_path, person.image, 95)
    _write_rgb(style_path, style.image, 95)
    return person_path, style_path
