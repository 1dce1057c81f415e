"""The real-photo development set: real shoppers from installed packages, hand-drawn masks.

No registry package ships e-commerce photos, but a few ship real photos of people
with licences that allow any use: scikit-image's astronaut (public domain) and
cameraman (CC0) and matplotlib's Grace Hopper (public domain). They are read from
the installed packages, never copied into the repository; their garment outlines
were drawn by hand and live in ``devset/garments.json``. Products are synthetic
product photos, one per style class named in :data:`DEV_PRODUCTS`.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from fittingroom.data.synth_render import render_shop
from fittingroom.garments import parse_style_key

OUTLINES = Path(__file__).resolve().parent.parent / "devset" / "garments.json"
# Product photos of the development set: (what it is, DeepFashion2 category, style class).
# Each is written as ``<style class>-<what>.png``, so ``evaluate tryon`` knows its class.
DEV_PRODUCTS = (
    ("tee", 1, "red-solid"),
    ("top", 2, "white-stripes"),
    ("tee", 1, "blue-solid"),
    ("tee", 1, "black-print"),
)


def _package_photo(source: str) -> np.ndarray:
    """RGB array of a photo shipped in an installed package ('<package>: <path>')."""
    package, _, path = source.partition(": ")
    if package == "scikit-image":
        import skimage

        root = Path(skimage.__file__).parent
        path = path.removeprefix("skimage/")
    elif package == "matplotlib":
        import matplotlib

        root = Path(matplotlib.get_data_path())
        path = path.removeprefix("mpl-data/")
    else:
        raise ValueError(f"unknown package in devset source '{source}'")
    image = cv2.imread(str(root / path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{root / path} (from {source}) is missing; is the package installed?")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def outline_mask(shape: tuple[int, int], entry: dict) -> np.ndarray:
    """Boolean garment mask from an entry's include and exclude polygons."""
    mask = np.zeros(shape, np.uint8)
    for key, value in (("include", 1), ("exclude", 0)):
        polygons = [np.array(p, np.int32) for p in entry.get(key, [])]
        if polygons:
            cv2.fillPoly(mask, polygons, value)
    return mask.astype(bool)


def _write(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb):
        raise OSError(f"could not write {path}")


def write_devset(out: Path, seed: int = 0) -> dict[str, int]:
    """Write ``persons/``, ``masks/`` (same stems, PNG) and ``products/`` under ``out``."""
    out = Path(out)
    outlines = {k: v for k, v in json.loads(OUTLINES.read_text()).items() if not k.startswith("_")}
    for name, entry in outlines.items():
        photo = _package_photo(entry["source"])
        _write(out / "persons" / f"{name}.png", photo)
        _write(out / "masks" / f"{name}.png", outline_mask(photo.shape[:2], entry).astype(np.uint8) * 255)
    for index, (kind, category, key) in enumerate(DEV_PRODUCTS):
        colour, pattern = parse_style_key(key)
        shot = render_shop(np.random.default_rng([seed, index]), (384, 480), (category, colour, pattern))
        _write(out / "products" / f"{key}-{kind}.png", shot.image)
    return {"persons": len(outlines), "products": len(DEV_PRODUCTS)}


def write_synthetic_pairs(out: Path, persons: int, products: int, seed: int = 1) -> dict[str, int]:
    """Synthetic shoppers (with their top's true mask) and product tops, every style class in turn.

    The validation counterpart of the development set: ``fittingroom evaluate tryon``
    on it measures how often the result is re-classified as the product's class.
    Products take the style classes in order (40 products: each class once), with a
    random top shape and look, so no class is left out of the measure by chance.
    Seeds differ from the training data's, so none of these pictures was trained on.
    """
    from fittingroom.data.synth_annotate import STYLE_CLASSES
    from fittingroom.data.synth_render import GarmentSpec, random_spec, render_user
    from fittingroom.data.synth_shapes import BOTTOMS, TOPS

    out = Path(out)
    for index in range(persons):
        rng = np.random.default_rng([seed, 1, index])
        pic = render_user(rng, (384, 480), [random_spec(rng, TOPS), random_spec(rng, BOTTOMS)])
        top = next((m for m, spec in zip(pic.masks, pic.specs) if spec.category in TOPS), None)
        _write(out / "persons" / f"shopper{index:03d}.png", pic.image)
        if top is not None:
            _write(out / "masks" / f"shopper{index:03d}.png", top.astype(np.uint8) * 255)
    for index in range(products):
        rng = np.random.default_rng([seed, 2, index])
        colour, pattern = parse_style_key(STYLE_CLASSES[index % len(STYLE_CLASSES)])
        shape = random_spec(rng, TOPS)
        spec = GarmentSpec(shape.category, colour, pattern, shape.variant)
        shot = render_shop(rng, (384, 480), spec)
        _write(out / "products" / f"{spec.colour}-{spec.pattern}-{index:03d}.png", shot.image)
    return {"persons": persons, "products": products}
