"""The segmentation stage: photo in, garments (mask, box, category, score) out.

Pure logic: numpy arrays in, :class:`~fittingroom.garments.Garment` objects out, a
loaded model passed in. No files, network or registry access here, so the CLI,
gRPC servicer and Kafka worker all call the same functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch import nn

from fittingroom.colour import rgb_to_lab
from fittingroom.errors import BadImageError, BadRequestError, NoGarmentError
from fittingroom.garments import CATEGORIES, Garment, category_id
from fittingroom.precision import autocast_for
from fittingroom.segmentation.body import BodyPose, body_layout, clip_to_body, fallback_garment

POLICIES_HELP = "'largest' or a category name (" + ", ".join(CATEGORIES) + ")"


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 RGB array -> 3xHxW float tensor in [0, 1]; rejects other shapes."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise BadImageError(f"expected an HxWx3 RGB image, got shape {shape}")
    if image.dtype != np.uint8:
        raise BadImageError(f"expected a uint8 image, got {image.dtype}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise BadImageError(f"image {image.shape[1]}x{image.shape[0]} is too small")
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)


def _int_box(box: Sequence[float], mask: np.ndarray) -> tuple[int, int, int, int]:
    """Integer (x1, y1, x2, y2), x2/y2 exclusive, covering the box and the mask, clipped."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    x1 = min(math.floor(box[0]), int(xs.min()))
    y1 = min(math.floor(box[1]), int(ys.min()))
    x2 = max(math.ceil(box[2]), int(xs.max()) + 1)
    y2 = max(math.ceil(box[3]), int(ys.max()) + 1)
    return max(0, x1), max(0, y1), min(w, x2), min(h, y2)


def detections_to_garments(
    output: dict[str, torch.Tensor], score_threshold: float, mask_threshold: float
) -> list[Garment]:
    """Turn one image's Mask R-CNN output into garments, best score first.

    Detections under ``score_threshold`` and those whose thresholded mask is empty
    are dropped. The box is widened to cover the mask so that a crop of the box
    always contains the whole garment. Outputs of any float type (bf16 under
    autocast) are read as float32.
    """
    scores = output["scores"].detach().float().cpu().numpy()
    boxes = output["boxes"].detach().float().cpu().numpy()
    labels = output["labels"].detach().cpu().numpy()
    masks = output["masks"].detach().float().cpu().numpy()[:, 0] >= mask_threshold
    garments = []
    for i in np.argsort(-scores, kind="stable"):
        if scores[i] < score_threshold or not masks[i].any() or not 1 <= labels[i] <= len(CATEGORIES):
            continue
        box = _int_box(boxes[i], masks[i])
        garments.append(Garment(mask=masks[i], box=box, category=int(labels[i]), score=float(scores[i])))
    return garments


def drop_detections_below(model: nn.Module, score_threshold: float) -> nn.Module:
    """Have a Mask R-CNN drop detections under ``score_threshold`` before it predicts and pastes their masks.

    torchvision keeps every detection down to its own ``box_score_thresh`` (0.05)
    and pastes each one's mask at the photo's full resolution, most of a large
    photo's segmentation time; :func:`detections_to_garments` then throws the
    low-scoring ones away. Dropping them first gives the same garments: NMS lets
    a box be suppressed only by a higher-scoring one, and each mask depends on
    its own box alone. Call it where the model is owned (a stage built with one
    threshold), not per request.
    """
    heads = getattr(model, "roi_heads", None)
    if heads is not None:
        heads.score_thresh = score_threshold
    return model


def segment_garments_batch(
    model: nn.Module,
    images: Sequence[np.ndarray],
    score_threshold: float = 0.5,
    mask_threshold: float = 0.5,
    *,
    device: torch.device | str,
    precision: str = "fp32",
) -> list[list[Garment]]:
    """Segment several photos in one forward pass (workers batch requests) on ``device``, where the model is,
    at ``precision`` (:mod:`fittingroom.precision`)."""
    if not images:
        return []
    tensors = [image_to_tensor(image) for image in images]
    model.eval()
    with torch.inference_mode(), autocast_for(device, precision):
        outputs = model([t.to(device) for t in tensors])
    return [detections_to_garments(o, score_threshold, mask_threshold) for o in outputs]


def segment_garments(
    model: nn.Module,
    image: np.ndarray,
    score_threshold: float = 0.5,
    mask_threshold: float = 0.5,
    *,
    device: torch.device | str,
    precision: str = "fp32",
) -> list[Garment]:
    """Garments found in one HxWx3 uint8 RGB photo, sorted by score (highest first)."""
    return segment_garments_batch(model, [image], score_threshold, mask_threshold, device=device,
                                  precision=precision)[0]


def select_garment(garments: Sequence[Garment], policy: str = "largest") -> Garment:
    """Pick the garment to restyle.

    ``policy`` is ``"largest"`` (most mask pixels; the main garment in a product
    photo) or a category name (the highest-scoring garment of that category).
    Raises :class:`NoGarmentError` when nothing fits, naming what was found.
    """
    if not garments:
        raise NoGarmentError("no garment found in the image")
    if policy == "largest":
        return max(garments, key=lambda g: (g.area, g.score))
    try:
        wanted = category_id(policy)
    except ValueError:
        raise BadRequestError(f"unknown garment selection policy '{policy}'; use {POLICIES_HELP}") from None
    matching = [g for g in garments if g.category == wanted]
    if not matching:
        found = ", ".join(sorted({g.category_name for g in garments}))
        raise NoGarmentError(f"no {policy} found in the image; found: {found}")
    return max(matching, key=lambda g: g.score)


# Body regions: a product replaces the shopper's garment worn in the same place.
GARMENT_REGIONS: dict[str, tuple[int, ...]] = {
    "top": (1, 2, 3, 4, 5, 6),
    "bottom": (7, 8, 9),
    "dress": (10, 11, 12, 13),
}


def garment_region(category: int) -> str:
    """``top``, ``bottom`` or ``dress`` for a 1-based DeepFashion2 category id."""
    return next(region for region, ids in GARMENT_REGIONS.items() if category in ids)


def match_garment(garments: Sequence[Garment], product_category: int) -> Garment:
    """The shopper's garment the product should replace.

    Same category first (highest score), then the same body region (a product
    top replaces whatever top is worn; a dress replaces a dress), then the
    largest garment. Raises :class:`NoGarmentError` when nothing was found.
    """
    if not garments:
        raise NoGarmentError("no garment found in the person image")
    same = [g for g in garments if g.category == product_category]
    if same:
        return max(same, key=lambda g: g.score)
    region = garment_region(product_category)
    nearby = [g for g in garments if garment_region(g.category) == region]
    if nearby:
        return max(nearby, key=lambda g: (g.area, g.score))
    return select_garment(garments, "largest")


def choose_person_garment(
    garments: Sequence[Garment], policy: str, product_category: int, fallback: Garment | None = None
) -> Garment:
    """Apply a garment policy: ``match`` (the product's counterpart), ``largest`` or a category.

    ``fallback`` (the body prior's garment for the product's region) is used when
    no garment fits where the product is worn, before any garment elsewhere.
    """
    wanted = policy_category(policy, product_category)
    if policy == "match":
        region = garment_region(product_category)
        if fallback is not None and not any(garment_region(g.category) == region for g in garments):
            return fallback
        return match_garment(garments, product_category)
    if fallback is not None and not any(policy == "largest" or g.category == wanted for g in garments):
        return fallback
    return select_garment(garments, policy)


def policy_category(policy: str, product_category: int) -> int:
    """The category a policy looks for: the product's for match/largest, else the named one."""
    if policy in ("match", "largest"):
        return product_category
    try:
        return category_id(policy)
    except ValueError:
        raise BadRequestError(f"unknown garment selection policy '{policy}'; use 'match', {POLICIES_HELP}") from None


def person_garment(
    image: np.ndarray, garments: Sequence[Garment], policy: str, product_category: int, pose: BodyPose | None
) -> Garment:
    """The shopper's garment to restyle, with the body prior when a person was found.

    With a pose, garments are clipped to the person and their body region (face
    and hair removed), and a fallback garment is cut from the product's body
    region when Mask R-CNN found none there. When the chosen garment lies mostly
    inside the body-region garment, the latter's outline is used: it follows the
    fabric's colour edges, where a Mask R-CNN trained on synthetic figures is
    coarse on real photos. Without a pose, the policy alone decides.
    """
    if pose is None:
        return choose_person_garment(garments, policy, product_category)
    layout = body_layout(image, pose)
    clipped = clip_to_body(list(garments), layout)
    fallback = fallback_garment(image, layout, policy_category(policy, product_category))
    chosen = choose_person_garment(clipped, policy, product_category, fallback)
    if fallback is None or chosen is fallback or (chosen.mask & fallback.mask).sum() < 0.3 * chosen.area:
        return chosen
    return Garment(mask=fallback.mask, box=fallback.box, category=chosen.category, score=chosen.score)


# A packshot's garment differs from its backdrop by more than this (CIEDE-like Lab distance).
PACKSHOT_CONTRAST = 12.0
PACKSHOT_MIN_SHARE = 0.03


def packshot_garment(image: np.ndarray) -> Garment | None:
    """The garment of a product photo on a plain backdrop, found without Mask R-CNN.

    The backdrop's colour is the median of the photo's border; the garment is the
    largest connected region that differs from it, holes filled. Its category is
    unknown and taken as a top (``short_sleeved_shirt``), the product shops most
    often send. ``None`` when no region covers at least 3 % of the photo.
    """
    lab = rgb_to_lab(image)
    border = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    differs = np.linalg.norm(lab - np.median(border, axis=0), axis=-1) > PACKSHOT_CONTRAST
    # Closing bridges the fabric's own backdrop-coloured parts (white stripes on a white sweep).
    side = max(5, int(0.05 * min(image.shape[:2])) | 1)
    differs = cv2.morphologyEx(differs.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    differs = cv2.morphologyEx(differs, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(differs)
    if count < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[largest, cv2.CC_STAT_AREA] < PACKSHOT_MIN_SHARE * differs.size:
        return None
    filled = np.pad(labels == largest, 1).astype(np.uint8)
    cv2.floodFill(filled, None, (0, 0), 2)
    mask = (filled[1:-1, 1:-1] != 2)
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return Garment(mask=mask, box=box, category=category_id("short_sleeved_shirt"), score=0.0)


# Two detections whose masks overlap at least this much are one garment named twice.
DUPLICATE_MASK_IOU = 0.6


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def distinct_garments(garments: Sequence[Garment], iou: float = DUPLICATE_MASK_IOU) -> list[Garment]:
    """One detection per garment: the most confident of each group of overlapping masks.

    Mask R-CNN suppresses overlaps per category only, so one flat-laid top comes back
    as a shirt (0.72), shorts (0.39), a skirt (0.33)…, with near-identical masks of
    slightly different sizes; picking the *largest* of those picks a category at random.
    """
    kept: list[Garment] = []
    for garment in sorted(garments, key=lambda g: -g.score):
        if all(mask_iou(garment.mask, other.mask) < iou for other in kept):
            kept.append(garment)
    return kept


def product_garment(image: np.ndarray, garments: Sequence[Garment]) -> Garment:
    """The product photo's garment: the largest distinct Mask R-CNN garment, named by its
    most confident detection; else the packshot garment."""
    if garments:
        return select_garment(distinct_garments(garments), "largest")
    found = packshot_garment(image)
    if found is None:
        raise NoGarmentError("no garment found in the product image")
    return found
