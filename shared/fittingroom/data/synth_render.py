"""Render one synthetic DeepFashion2 picture: a dressed figure ("user") or a product shot ("shop").

Pure functions of a numpy random generator: same generator state, same picture.
A :class:`GarmentSpec` forces a garment's category and style; its ``variant``
fixes the finer look (exact shade, stripe width, print layout) so a product
photographed in a shop image and worn in user images looks the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fittingroom.data.synth_annotate import MIN_VISIBLE_PIXELS, item_annotation, polygon_area
from fittingroom.data.synth_body import Body, sample_body
from fittingroom.data.synth_figure import (HAIR_COLOURS, SKIN_TONES, draw_body, draw_hands, draw_head,
                                           lighting, shop_background, user_background)
from fittingroom.data.synth_paint import Look, make_look, paint_region
from fittingroom.data.synth_photos import photo_background
from fittingroom.data.synth_shapes import BOTTOMS, DRESSES, TOPS, GarmentShape, front_neckline, garment_shape
from fittingroom.garments import COLOUR_NAMES, PATTERNS, category_name


# Shopper photos with a real-photo background (the rest get a synthetic room).
PHOTO_BACKGROUND_SHARE = 0.5


@dataclass(frozen=True)
class GarmentSpec:
    """A garment to draw: 1-based category, colour and pattern names, look variant."""

    category: int
    colour: str
    pattern: str
    variant: int | None = None

    def __post_init__(self) -> None:
        category_name(self.category)
        if self.colour not in COLOUR_NAMES or self.pattern not in PATTERNS:
            raise ValueError(f"unknown style {self.colour}-{self.pattern}")


@dataclass
class Rendered:
    """A rendered picture with its DF2 item dicts and each item's visible mask.

    Pictures of a person also carry ground truth for the body prior: ``person``
    (skin, garments and hair) and ``head`` (face and hair above the chin).
    """

    image: np.ndarray
    items: list[dict]
    masks: list[np.ndarray]
    specs: list[GarmentSpec]
    person: np.ndarray | None = None
    head: np.ndarray | None = None


SpecLike = GarmentSpec | tuple


def as_spec(garment: SpecLike) -> GarmentSpec:
    """Accept a GarmentSpec or a ``(category, colour, pattern[, variant])`` tuple."""
    return garment if isinstance(garment, GarmentSpec) else GarmentSpec(*garment)


def random_spec(rng: np.random.Generator, categories: tuple[int, ...]) -> GarmentSpec:
    """A garment of a random category among ``categories`` and a random style."""
    return GarmentSpec(int(rng.choice(categories)), str(rng.choice(COLOUR_NAMES)),
                       str(rng.choice(PATTERNS)), int(rng.integers(0, 2**31 - 1)))


def complete_outfit(rng: np.random.Generator, product: GarmentSpec | None = None) -> list[GarmentSpec]:
    """A plausible outfit (top + bottom, or a dress) that includes ``product`` if given."""
    if product is None:
        product = random_spec(rng, DRESSES if rng.random() < 0.25 else TOPS + BOTTOMS)
    if product.category in DRESSES:
        return [product]
    other = random_spec(rng, TOPS if product.category in BOTTOMS else BOTTOMS)
    return [product, other]


def _look(spec: GarmentSpec, rng: np.random.Generator) -> Look:
    source = np.random.default_rng(spec.variant) if spec.variant is not None else rng
    return make_look(source, spec.colour, spec.pattern)


def _fill(parts: list[np.ndarray], height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [np.round(p * 16).astype(np.int32) for p in parts], 1, cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _paint_garment(canvas: np.ndarray, shape: GarmentShape, look: Look, rng: np.random.Generator,
                   origin: tuple[float, float], scale: float, strength: float) -> np.ndarray:
    """Paint a garment and its seams; returns its full in-frame silhouette."""
    full = _fill(shape.parts, *canvas.shape[:2])
    paint_region(canvas, full, look, rng, origin, scale, strength, vertical=shape.category == 8)
    if shape.seams:
        layer = canvas.copy()
        dark = (np.asarray(look.base) * 0.55).tolist()
        cv2.polylines(layer, [np.round(s).astype(np.int32) for s in shape.seams], False, dark, 1, cv2.LINE_AA)
        canvas[full] = layer[full]
    return full


def _annotate(specs: list[GarmentSpec], shapes: list[GarmentShape], fulls: list[np.ndarray],
              labels: np.ndarray, viewpoint: int) -> tuple[list[dict], list[np.ndarray], list[GarmentSpec]]:
    items, masks, kept = [], [], []
    for index, (spec, shape, full) in enumerate(zip(specs, shapes, fulls), start=1):
        visible = labels == index
        if visible.sum() < MIN_VISIBLE_PIXELS:
            continue
        hidden = front_neckline(spec.category) if viewpoint == 3 else ()
        item = item_annotation(spec.category, spec.colour, spec.pattern, full, visible,
                               polygon_area(shape.parts[0]), shape.landmarks, viewpoint, hidden)
        if item["segmentation"]:
            items.append(item)
            masks.append(visible)
            kept.append(spec)
    return items, masks, kept


def render_user(rng: np.random.Generator, size: tuple[int, int] = (256, 320),
                garments: list[SpecLike] | None = None) -> Rendered:
    """A person wearing ``garments`` (exactly those; a random outfit when None)."""
    width, height = size
    specs = [as_spec(g) for g in garments] if garments else complete_outfit(rng)
    body = sample_body(rng, width, height)
    back_view = bool(rng.random() < 0.12)
    canvas = photo_background(rng, height, width) if rng.random() < PHOTO_BACKGROUND_SHARE else user_background(rng, height, width)
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.93, 1.05)
    draw_body(canvas, body, skin, np.clip(rng.uniform(0.05, 0.5, 3), 0, 1).astype(np.float32))
    labels = np.zeros((height, width), np.uint8)
    shapes: list[GarmentShape] = [None] * len(specs)  # type: ignore[list-item]
    fulls: list[np.ndarray] = [None] * len(specs)  # type: ignore[list-item]
    for i in sorted(range(len(specs)), key=lambda k: specs[k].category not in BOTTOMS):
        shapes[i] = garment_shape(specs[i].category, body, rng)
        fulls[i] = _paint_garment(canvas, shapes[i], _look(specs[i], rng), rng,
                                  (body.cx, body.shoulder_y), body.fh / 300.0, 1.0)
        labels[fulls[i]] = i + 1
    draw_hands(canvas, labels, body, skin)
    before_head = canvas.copy()
    draw_head(canvas, labels, body, rng, HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))], back_view)
    image = (lighting(canvas, rng) * 255 + 0.5).astype(np.uint8)
    items, masks, kept = _annotate(specs, shapes, fulls, labels, 3 if back_view else 2)
    person, head = _person_truth(body, fulls, np.any(canvas != before_head, axis=-1))
    return Rendered(image, items, masks, kept, person, head)


def _person_truth(body: Body, fulls: list[np.ndarray], head_drawn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Person and head masks of a rendered figure: its silhouette, garments and hair."""
    silhouette = np.zeros((*head_drawn.shape, 3), np.float32)
    draw_body(silhouette, body, np.ones(3, np.float32), np.ones(3, np.float32))
    person = (silhouette[..., 0] > 0.5) | head_drawn | np.any(fulls, axis=0)
    rows = np.arange(person.shape[0])[:, None]
    head = head_drawn | (person & (rows < body.y(0.143)))
    return person, head


def _fit_to_frame(shape: GarmentShape, width: int, height: int, margin: float) -> tuple[GarmentShape, np.ndarray]:
    """Scale and move a garment so it fills the frame inside ``margin``; returns (shape, affine)."""
    pts = np.concatenate(shape.parts)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    k = min(width * (1 - 2 * margin) / (hi[0] - lo[0]), height * (1 - 2 * margin) / (hi[1] - lo[1]))
    shift = np.array([width, height]) / 2 - k * (lo + hi) / 2
    move = lambda p: p * k + shift  # noqa: E731
    marks = shape.landmarks.copy()
    marks[:, :2] = move(marks[:, :2])
    fitted = GarmentShape(shape.category, [move(p) for p in shape.parts], marks, [move(s) for s in shape.seams])
    return fitted, np.array([k, *shift])


def render_shop(rng: np.random.Generator, size: tuple[int, int] = (256, 320),
                garment: SpecLike | None = None) -> Rendered:
    """A product photo: one garment laid out flat on a plain light background."""
    width, height = size
    spec = as_spec(garment) if garment is not None else random_spec(rng, TOPS + BOTTOMS + DRESSES)
    body = Body(cx=width / 2, top=0.0, fh=float(height), width=float(rng.uniform(0.95, 1.1)),
                arm_angle=float(rng.uniform(0.45, 0.8)), leg_spread=float(rng.uniform(0.01, 0.04)))
    shape, (k, sx, sy) = _fit_to_frame(garment_shape(spec.category, body, rng), width, height,
                                       float(rng.uniform(0.05, 0.12)))
    canvas = shop_background(rng, height, width)
    origin = (body.cx * k + sx, body.shoulder_y * k + sy)
    full = _paint_garment(canvas, shape, _look(spec, rng), rng, origin, k * body.fh / 300.0, 0.55)
    image = (lighting(canvas, rng, 0.06) * 255 + 0.5).astype(np.uint8)
    items, masks, kept = _annotate([spec], [shape], [full], full.astype(np.uint8), 1)
    return Rendered(image, items, masks, kept)


def render_user_image(rng: np.random.Generator, size: tuple[int, int] = (256, 320),
                      garments: list[SpecLike] | None = None) -> tuple[np.ndarray, list[dict]]:
    """RGB uint8 picture of a dressed person and its DeepFashion2 item dicts."""
    out = render_user(rng, size, garments)
    return out.image, out.items


def render_shop_image(rng: np.random.Generator, size: tuple[int, int] = (256, 320),
                      garment: SpecLike | None = None) -> tuple[np.ndarray, dict]:
    """RGB uint8 product photo of one garment and its DeepFashion2 item dict."""
    out = render_shop(rng, size, garment)
    return out.image, out.items[0]
