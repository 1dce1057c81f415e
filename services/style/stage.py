"""The style stage: name a product garment's colour × pattern class, pick its weights.

Pure logic — arrays and a loaded model in, :class:`StyleLabel` / a registry key out;
no file, network or queue I/O (``fittingroom.style.model.load_model`` reads the registry it is given
and is meant to run once at start-up, not per request).

Class lists live in the manifest's ``classes`` as ``"colour:<name>"`` entries followed
by ``"pattern:<name>"`` entries, in head-output order (see :func:`encode_style_classes`).

Confidence of a label is the **product** of the two heads' top softmax
probabilities: the probability of the joint (colour, pattern) class if the heads are
treated as independent. It is never above either head's own confidence, so a
confident colour cannot hide an unsure pattern.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import torch

from fittingroom.colour import measure_garment_colour
from fittingroom.pattern import Fabric, fabric_is_printed, fabric_patch
from fittingroom.errors import UnknownStyleError
from fittingroom.garments import COLOURS, Garment, StyleLabel, parse_style_key
from fittingroom.registry import ModelManifest
from fittingroom.settings import STYLE_FALLBACKS
from fittingroom.style.model import INPUT_SIZE, StyleNet
from fittingroom.style.preprocess import MASK_EDGE_TRIM, letterbox, masked_crop, to_model_tensor



def style_input(image: np.ndarray, garment: Garment, size: int = INPUT_SIZE,
                trim: float = MASK_EDGE_TRIM) -> np.ndarray:
    """StyleNet input for one garment: ``size×size×3`` uint8, black outside the garment.

    Crops ``image`` (``H×W×3`` uint8 RGB) to ``garment.box`` (clamped to the image),
    zeroes pixels outside the interior of ``garment.mask`` (its edge trimmed by
    ``trim``, see :data:`~fittingroom.style.preprocess.MASK_EDGE_TRIM`: serving masks
    are predicted, training crops are not), and letterboxes to a square keeping aspect.
    """
    return letterbox(masked_crop(image, garment, trim), size)


def encode_style_classes(colours: Sequence[str], patterns: Sequence[str]) -> list[str]:
    """Manifest ``classes`` for a StyleNet: ``["colour:red", …, "pattern:solid", …]``."""
    return [f"colour:{c}" for c in colours] + [f"pattern:{p}" for p in patterns]


def decode_style_classes(classes: Sequence[str]) -> tuple[list[str], list[str]]:
    """Inverse of :func:`encode_style_classes`: ``(colours, patterns)`` in head order."""
    colours = [c.split(":", 1)[1] for c in classes if c.startswith("colour:")]
    patterns = [c.split(":", 1)[1] for c in classes if c.startswith("pattern:")]
    return colours, patterns


@torch.no_grad()
def predict_styles(
    model: StyleNet, colours: Sequence[str], patterns: Sequence[str], inputs: np.ndarray, *,
    device: torch.device | str,
) -> list[StyleLabel]:
    """Labels for a batch of prepared inputs (``N×S×S×3`` uint8 from :func:`style_input`), on ``device``."""
    if len(inputs) == 0:
        return []
    colour_logits, pattern_logits = model(to_model_tensor(inputs).to(device))
    c_prob, c_idx = colour_logits.softmax(dim=1).max(dim=1)
    p_prob, p_idx = pattern_logits.softmax(dim=1).max(dim=1)
    return [
        StyleLabel(colours[int(ci)], patterns[int(pi)], float(cp * pp))
        for ci, pi, cp, pp in zip(c_idx.cpu(), p_idx.cpu(), c_prob.cpu(), p_prob.cpu())
    ]


def classify_style(
    model: StyleNet,
    colours: Sequence[str],
    patterns: Sequence[str],
    image: np.ndarray,
    garment: Garment,
    *,
    device: torch.device | str,
) -> StyleLabel:
    """Colour × pattern class of one garment (confidence = colour prob × pattern prob),
    with the garment's measured colour as ``product_lab``."""
    return classify_style_batch(model, colours, patterns, [image], [garment], device=device)[0]


def classify_style_batch(
    model: StyleNet,
    colours: Sequence[str],
    patterns: Sequence[str],
    images: Sequence[np.ndarray],
    garments: Sequence[Garment],
    *,
    device: torch.device | str,
) -> list[StyleLabel]:
    """:func:`classify_style` for many (image, garment) pairs in one forward pass."""
    if len(images) != len(garments):
        raise ValueError(f"{len(images)} images but {len(garments)} garments")
    if not images:
        return []
    batch = np.stack([style_input(img, g, model.input_size) for img, g in zip(images, garments)])
    labels = predict_styles(model, colours, patterns, batch, device=device)
    return [
        dataclasses.replace(label, product_lab=measure_garment_colour(img, g.mask))
        for label, img, g in zip(labels, images, garments)
    ]


def product_fabric(image: np.ndarray, garment: Garment, label: StyleLabel) -> Fabric | None:
    """The product's fabric for the exact-pattern step; ``None`` for solid products.

    Solid is the classifier's call, unless the fabric shows a print of its own
    (:func:`~fittingroom.pattern.fabric_is_printed`): a sparse print named solid is
    tiled all the same.
    """
    fabric = fabric_patch(image, garment.mask)
    if fabric is None or (label.pattern == "solid" and not fabric_is_printed(fabric.patch)):
        return None
    return fabric


def _colour_distance(a: str, b: str) -> float:
    return float(np.linalg.norm(np.subtract(COLOURS[a], COLOURS[b], dtype=float)))


def _nearest_key(label: StyleLabel, available: Sequence[str]) -> str | None:
    """Same pattern + nearest colour prototype, else nearest colour with any pattern."""
    parsed = []
    for key in available:
        try:
            parsed.append((key, *parse_style_key(key)))
        except ValueError:
            continue
    same = [p for p in parsed if p[2] == label.pattern]
    pool = same or parsed
    if not pool:
        return None
    return min(pool, key=lambda p: (_colour_distance(label.colour, p[1]), p[0]))[0]


def resolve_translation_key(
    label: StyleLabel, available: Sequence[str], fallback: str = "none"
) -> str:
    """Registry name of the translation weights to use for ``label``.

    ``label.key`` when it is in ``available``. Otherwise, by ``fallback``:

    - ``"none"``: raise :class:`UnknownStyleError` listing the available classes.
    - ``"nearest"``: among available keys with the **same pattern**, the one whose
      colour prototype (``fittingroom.garments.COLOURS``) is nearest in sRGB Euclidean
      distance; if no key has that pattern, the nearest colour over all patterns.
      Ties go to the alphabetically first key; keys that are not ``colour-pattern``
      are ignored. Still raises when nothing usable is available.
    """
    if fallback not in STYLE_FALLBACKS:
        raise ValueError(f"unknown fallback '{fallback}'; choose one of {', '.join(STYLE_FALLBACKS)}")
    if label.key in available:
        return label.key
    if fallback == "nearest":
        key = _nearest_key(label, available)
        if key is not None:
            return key
    raise UnknownStyleError(label.key, list(available))


def style_classes(manifest: ModelManifest) -> tuple[list[str], list[str]]:
    """``(colours, patterns)`` of a style model's manifest, in head-output order."""
    return decode_style_classes(manifest.classes)
