"""The body prior: a person mask and body landmarks that keep garments on the body.

Mask R-CNN trained on synthetic figures finds garments in real photos only
roughly: its masks spill onto the face, the arms, the background. A pretrained
pose model that ships in a registry package (MediaPipe's BlazePose "full"
landmark model, see ``assets/README.md``) gives, for the person photo:

- a **person mask**, so no garment pixel lies off the person;
- **body landmarks**, from which the torso-and-arms region (tops), the
  hips-and-legs region (bottoms) and the head (face and hair) are drawn.

Each Mask R-CNN garment is clipped to the person and to its body region, minus
the head; and when no garment is found where the product is worn, a fallback
garment is cut from that body region by colour coherence with its core.

The model runs in the LiteRT interpreter (``ai-edge-litert``): the same CPU
runtime on CPU and GPU nodes, no custom ops, about 10 ms per pass. Everything
below :class:`PoseEstimator` is pure numpy on arrays.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fittingroom.colour import palette_clusters, rgb_to_lab
from fittingroom.garments import Garment

POSE_MODEL_PATH = Path(__file__).parent / "assets" / "pose_landmark_full.tflite"
POSE_INPUT = 256
# Framings tried on every photo: the photo letterboxed (k = 1), then on larger
# canvases with the photo near the top, so that a head-and-shoulders portrait
# looks like the full-body view the model was trained on.
FRAMINGS = (1.0, 1.5, 2.0)
MIN_POSE_SCORE = 0.8
# Colour distance (CIELAB, lightness at half weight) within which a pixel belongs
# to the garment whose core colour it shares, unless the core itself varies more.
COHERENCE_DE = 20.0

# BlazePose landmark indices.
NOSE, L_EAR, R_EAR = 0, 7, 8
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 11, 12, 13, 14, 15, 16
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 23, 24, 25, 26, 27, 28
FACE = tuple(range(0, 11))

REGION_OF_CATEGORY = {**{c: "top" for c in range(1, 7)}, **{c: "bottom" for c in (7, 8, 9)},
                      **{c: "dress" for c in range(10, 14)}}


@dataclass
class BodyPose:
    """A person in a photo: boolean person mask, 33 landmarks in pixels, pose score."""

    person: np.ndarray
    landmarks: np.ndarray
    score: float

    @property
    def shoulder_width(self) -> float:
        width = float(np.linalg.norm(self.landmarks[L_SHOULDER] - self.landmarks[R_SHOULDER]))
        return max(width, 0.05 * max(self.person.shape))


def framing_transform(height: int, width: int, k: float) -> np.ndarray:
    """2×3 affine map from photo pixels to the model's 256² input for framing ``k``."""
    side = max(height, width) * k
    x0 = (side - width) / 2.0
    y0 = (side - height) / 2.0 if k == 1.0 else (side - height) * 0.1
    scale = POSE_INPUT / side
    return np.array([[scale, 0.0, x0 * scale], [0.0, scale, y0 * scale]], dtype=np.float64)


class PoseEstimator:
    """BlazePose in the LiteRT interpreter; one pass per framing, the best one kept."""

    def __init__(self, model_path: Path = POSE_MODEL_PATH, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(model_path), num_threads=max(1, threads))
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: d["index"] for d in self._interpreter.get_output_details()}
        self._landmarks, self._flag, self._mask = outputs["Identity"], outputs["Identity_1"], outputs["Identity_2"]
        self._lock = threading.Lock()

    def _infer(self, crop: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        with self._lock:
            self._interpreter.set_tensor(self._input, (crop.astype(np.float32) / 255.0)[None])
            self._interpreter.invoke()
            landmarks = self._interpreter.get_tensor(self._landmarks).reshape(39, 5)[:33, :2].copy()
            flag = float(self._interpreter.get_tensor(self._flag).reshape(-1)[0])
            mask = self._interpreter.get_tensor(self._mask)[0, :, :, 0].copy()
        return landmarks, flag, mask

    def estimate(self, image: np.ndarray) -> BodyPose | None:
        """The photo's person, or ``None`` when no framing finds one confidently."""
        height, width = image.shape[:2]
        best = None
        for k in FRAMINGS:
            forward = framing_transform(height, width, k)
            crop = cv2.warpAffine(image, forward, (POSE_INPUT, POSE_INPUT), flags=cv2.INTER_AREA)
            landmarks, flag, logits = self._infer(crop)
            if best is None or flag > best[0]:
                best = (flag, forward, landmarks, logits)
            if flag > 0.99:
                break
        flag, forward, landmarks, logits = best
        if flag < MIN_POSE_SCORE:
            return None
        backward = cv2.invertAffineTransform(forward)
        photo_logits = cv2.warpAffine(logits, backward, (width, height), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=-60.0)
        points = landmarks @ backward[:, :2].T + backward[:, 2]
        return BodyPose(person=photo_logits > 0.0, landmarks=points, score=flag)


def _limb(canvas: np.ndarray, points: np.ndarray, chain: tuple[int, ...], thickness: float) -> None:
    for a, b in zip(chain, chain[1:]):
        pa, pb = tuple(np.rint(points[a]).astype(int)), tuple(np.rint(points[b]).astype(int))
        cv2.line(canvas, pa, pb, 1, max(1, int(round(thickness))), lineType=cv2.LINE_8)
        cv2.circle(canvas, pb, max(1, int(round(thickness / 2))), 1, -1)


def _polygon(canvas: np.ndarray, points: list[np.ndarray]) -> None:
    cv2.fillPoly(canvas, [np.rint(np.array(points)).astype(np.int32)], 1)


def _body_axes(pose: BodyPose) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors across the shoulders (towards the left shoulder) and down the body."""
    p = pose.landmarks
    across = (p[L_SHOULDER] - p[R_SHOULDER]) / max(np.linalg.norm(p[L_SHOULDER] - p[R_SHOULDER]), 1e-6)
    down = np.array([-across[1], across[0]]) if across[0] >= 0 else np.array([across[1], -across[0]])
    return across, down


def _trunk_band(canvas: np.ndarray, pose: BodyPose, upper: tuple[int, int], lower: tuple[int, int],
                widen: tuple[float, float], extend: tuple[float, float]) -> None:
    """Fill the quadrilateral from the upper (left, right) landmarks to the lower ones.

    Its upper and lower edges are widened outwards by ``widen`` and moved up and
    down by ``extend``, all in shoulder widths.
    """
    p, s = pose.landmarks, pose.shoulder_width
    across, down = _body_axes(pose)
    rise, drop = -down * extend[0] * s, down * extend[1] * s
    _polygon(canvas, [
        p[upper[0]] + across * widen[0] * s + rise, p[upper[1]] - across * widen[0] * s + rise,
        p[lower[1]] - across * widen[1] * s + drop, p[lower[0]] + across * widen[1] * s + drop,
    ])


def body_regions(pose: BodyPose) -> dict[str, np.ndarray]:
    """Boolean masks of the head (face and hair), the top region and the bottom region."""
    height, width = pose.person.shape
    p, s = pose.landmarks, pose.shoulder_width
    across, down = _body_axes(pose)
    top = np.zeros((height, width), np.uint8)
    _trunk_band(top, pose, (L_SHOULDER, R_SHOULDER), (L_HIP, R_HIP), widen=(0.15, 0.25), extend=(0.12, 0.35))
    for chain in ((L_SHOULDER, L_ELBOW, L_WRIST), (R_SHOULDER, R_ELBOW, R_WRIST)):
        _limb(top, p, chain, 0.5 * s)
    bottom = np.zeros((height, width), np.uint8)
    _trunk_band(bottom, pose, (L_HIP, R_HIP), (L_HIP, R_HIP), widen=(0.3, 0.3), extend=(0.3, 0.4))
    for chain in ((L_HIP, L_KNEE, L_ANKLE), (R_HIP, R_KNEE, R_ANKLE)):
        _limb(bottom, p, chain, 0.6 * s)
    head = np.zeros((height, width), np.uint8)
    centre = p[list(FACE)].mean(axis=0)
    ears = float(np.linalg.norm(p[L_EAR] - p[R_EAR]))
    radius = max(ears, 0.45 * s) * 0.75
    centre = centre - down * 0.3 * radius
    angle = float(np.degrees(np.arctan2(across[1], across[0])))
    cv2.ellipse(head, tuple(np.rint(centre).astype(int)), (int(radius), int(radius * 1.35)), angle, 0, 360, 1, -1)
    return {"head": head.astype(bool), "top": top.astype(bool), "bottom": bottom.astype(bool)}


def hair_mask(image: np.ndarray, pose: BodyPose, regions: dict[str, np.ndarray],
              window: tuple[slice, slice] | None = None) -> np.ndarray:
    """Hair hanging below the head: person pixels of the hair's colour connected to the head.

    The hair colour is sampled at the top of the head region. Nothing is taken when
    it is close to the torso's colour (dark hair over a dark top): telling them
    apart by colour would eat the garment. The work is done in ``window`` of the
    photo (default: around the person, head and torso, where every pixel it can
    take or sample lies).
    """
    head = regions["head"] & pose.person
    rows = np.nonzero(head.any(axis=1))[0]
    if rows.size < 4:
        return np.zeros_like(head)
    crown = head & (np.arange(head.shape[0])[:, None] < rows[0] + (rows[-1] - rows[0]) * 0.25)
    torso = _core(pose, "top")
    if crown.sum() < 8 or torso.sum() < 8:
        return np.zeros_like(head)
    window = window or _around(pose.person | regions["head"] | torso, 1)
    lab = rgb_to_lab(image[window])
    hair = np.median(lab[crown[window]], axis=0)
    if np.linalg.norm(np.median(lab[torso[window]], axis=0) - hair) < 25.0:
        return np.zeros_like(head)
    close = ((np.linalg.norm(lab - hair, axis=-1) < 15.0) & pose.person[window]) | head[window]
    count, labels = cv2.connectedComponents(close.astype(np.uint8))
    touching = np.unique(labels[head[window]])
    found = np.zeros_like(head)
    found[window] = np.isin(labels, touching[touching > 0])
    return found


def garment_region_mask(regions: dict[str, np.ndarray], category: int) -> np.ndarray:
    """Where a garment of a DeepFashion2 category may lie, minus the head."""
    region = REGION_OF_CATEGORY[category]
    allowed = regions["top"] | regions["bottom"] if region == "dress" else regions[region]
    return allowed & ~regions["head"]


def _box_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@dataclass
class BodyLayout:
    """A photo's person cut into body regions: worked out once, used by every garment rule."""

    pose: BodyPose
    regions: dict[str, np.ndarray]
    wearable: np.ndarray  # the person minus hair hanging below the head


def body_layout(image: np.ndarray, pose: BodyPose) -> BodyLayout:
    """The regions and wearable area of the person ``pose`` found in ``image``."""
    regions = body_regions(pose)
    return BodyLayout(pose, regions, pose.person & ~hair_mask(image, pose, regions))


def clip_to_body(garments: list[Garment], layout: BodyLayout, min_kept: float = 0.15) -> list[Garment]:
    """Each garment clipped to the person and its body region, minus the head and hair.

    A garment that keeps less than ``min_kept`` of its pixels was mostly off the
    body (a wall, a bag, the face) and is dropped.
    """
    kept = []
    for garment in garments:
        mask = garment.mask & layout.wearable & garment_region_mask(layout.regions, garment.category)
        if mask.sum() < max(min_kept * garment.area, 16):
            continue
        kept.append(Garment(mask=mask, box=_box_of(mask), category=garment.category, score=garment.score))
    return kept


def _core(pose: BodyPose, region: str) -> np.ndarray:
    """The central part of a body region, where the garment surely is."""
    p = pose.landmarks
    core = np.zeros(pose.person.shape, np.uint8)
    if region == "bottom":
        upper = [p[L_HIP] * 0.8 + p[R_HIP] * 0.2, p[R_HIP] * 0.8 + p[L_HIP] * 0.2]
        lower = [p[R_KNEE] * 0.6 + p[R_HIP] * 0.4, p[L_KNEE] * 0.6 + p[L_HIP] * 0.4]
    else:
        upper = [p[L_SHOULDER] * 0.7 + p[L_HIP] * 0.3, p[R_SHOULDER] * 0.7 + p[R_HIP] * 0.3]
        upper = [upper[0] * 0.8 + upper[1] * 0.2, upper[1] * 0.8 + upper[0] * 0.2]
        lower = [p[R_HIP] * 0.8 + p[L_HIP] * 0.2, p[L_HIP] * 0.8 + p[R_HIP] * 0.2]
        lower = [lower[0] * 0.85 + upper[1] * 0.15, lower[1] * 0.85 + upper[0] * 0.15]
    _polygon(core, [*upper, *lower])
    return core.astype(bool) & pose.person


def _fill_small_holes(mask: np.ndarray, largest: float = 0.03) -> np.ndarray:
    """The mask with enclosed holes smaller than ``largest`` of its area (a logo, a badge) filled.

    Larger holes (a shirt front inside an open jacket) are other garments and stay out.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    small = [i for i in range(1, count) if i not in border and stats[i, cv2.CC_STAT_AREA] < largest * mask.sum()]
    return mask | np.isin(labels, small)


def _spread_over(core: np.ndarray, members: np.ndarray, cells: int = 4) -> float:
    """Share of the core's grid cells (``cells × cells`` over its box) in which ``members`` appear."""
    ys, xs = np.nonzero(core)
    row = np.minimum((ys - ys.min()) * cells // max(1, ys.max() - ys.min() + 1), cells - 1)
    col = np.minimum((xs - xs.min()) * cells // max(1, xs.max() - xs.min() + 1), cells - 1)
    cell = row * cells + col
    return len(np.unique(cell[members])) / len(np.unique(cell))


def _palette_distance(lab: np.ndarray, core: np.ndarray, colours: int = 3, min_share: float = 0.25) -> np.ndarray:
    """Pixels within reach of the core's palette.

    The palette is the core's dominant k-means colour plus any other holding
    ``min_share`` of the core and appearing across most of it, as a pattern's
    colours do (a shirt front, a collar or a necklace sits in one part of it).
    Each colour's reach is ``COHERENCE_DE`` or three times its own spread,
    whichever is larger, so shading within a stripe stays in and skin next to a
    striped shirt stays out.
    """
    samples = lab[core]
    labels, centres, group = palette_clusters(samples, colours, COHERENCE_DE)
    members_of = {g: np.isin(labels, np.nonzero(group == g)[0]) for g in np.unique(group)}
    dominant = max(members_of, key=lambda g: members_of[g].sum())
    kept = {g for g, members in members_of.items() if g == dominant or (
        members.mean() >= min_share and _spread_over(core, members) >= 0.75)}
    near = np.zeros(lab.shape[:2], bool)
    for k, centre in enumerate(centres):
        members = samples[labels == k]
        if group[k] not in kept or not len(members):
            continue
        spread = float(np.median(np.linalg.norm(members - centre, axis=1)))
        near |= np.linalg.norm(lab - centre, axis=-1) < max(COHERENCE_DE, 3.0 * spread)
    return near


def fallback_garment(image: np.ndarray, layout: BodyLayout, category: int,
                     window: tuple[slice, slice] | None = None) -> Garment | None:
    """A garment for ``category`` cut from its body region by colour coherence.

    The region's core (mid-torso for tops, hips to mid-thigh for bottoms) gives
    the garment's palette: up to three colours (a solid has one, stripes and
    checks two or three). Region pixels on the person close to any palette colour
    and connected to the core form the garment. ``None`` if the core is not visible.
    The work is done in ``window`` of the photo (default: around the region, far
    enough out that the morphology sees exactly what it would on the whole photo).
    """
    pose = layout.pose
    region_name = "bottom" if REGION_OF_CATEGORY[category] == "bottom" else "top"
    allowed = garment_region_mask(layout.regions, category) & layout.wearable
    core = _core(pose, region_name) & allowed
    if core.sum() < 32:
        return None
    size = max(3, int(0.06 * pose.shoulder_width) | 1)
    window = window or _around(allowed, 2 * size + 2)
    allowed_in, core_in = allowed[window], core[window]
    # Lightness counts half: folds and shading change it far more than the hue.
    lab = rgb_to_lab(image[window]) * np.array([0.5, 1.0, 1.0], np.float32)
    close = (_palette_distance(lab, core_in) & allowed_in).astype(np.uint8)
    close = cv2.morphologyEx(close, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    count, labels = cv2.connectedComponents(close)
    touching = np.unique(labels[core_in & close.astype(bool)])
    found = _fill_small_holes(np.isin(labels, touching[touching > 0])) & allowed_in
    if found.sum() < 32:
        return None
    mask = np.zeros(allowed.shape, bool)
    mask[window] = found
    return Garment(mask=mask, box=_box_of(mask), category=category, score=0.0)


def _around(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    """The mask's bounding box grown by ``margin`` pixels on every side, within the photo."""
    x1, y1, x2, y2 = _box_of(mask)
    height, width = mask.shape
    return slice(max(0, y1 - margin), min(height, y2 + margin)), slice(max(0, x1 - margin), min(width, x2 + margin))
