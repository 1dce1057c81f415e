"""Garment silhouettes with DeepFashion2 landmarks, one builder per garment family.

Each garment is a closed contour through named anchor points (shoulder, cuff,
armpit, waist, hem corner, ...) on a :class:`Body`. Every anchor carries the
DeepFashion2 landmark number it stands for; the remaining outline landmarks are
spread evenly between their anchored neighbours along the contour, in the order
of :data:`fittingroom.data.df2_landmarks.OUTLINE_ORDER`, so landmark polygons of
synthetic items trace the real silhouette. Points off the contour (back-neck
centre, zip line, strap tips) are placed where DeepFashion2 puts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fittingroom.data.df2_landmarks import LANDMARK_COUNTS
from fittingroom.data.synth_body import Body, mirror

# Per upper-body category: landmark numbers of the image-left (L) and image-right
# (R) anchors, the neck corners, the front-neckline run (from the right corner
# back to the left), the contour run between the neck corners, and sleeve kind.
_UPPER: dict[int, dict] = {
    1: dict(L=dict(shoulder=7, cuff_out=9, cuff_in=10, armpit=11, corner=15, center=16),
            R=dict(shoulder=25, cuff_out=23, cuff_in=22, armpit=21, corner=17, center=16),
            neck=(2, 6), dip=(5, 4, 3), run=(7, 25), sleeve="short"),
    2: dict(L=dict(shoulder=7, cuff_out=10, cuff_in=11, armpit=14, corner=19, center=20),
            R=dict(shoulder=33, cuff_out=30, cuff_in=29, armpit=26, corner=21, center=20),
            neck=(2, 6), dip=(5, 4, 3), run=(7, 33), sleeve="long"),
    3: dict(L=dict(shoulder=7, cuff_out=9, cuff_in=10, armpit=11, corner=15, center=16),
            R=dict(shoulder=25, cuff_out=23, cuff_in=22, armpit=21, corner=18, center=17),
            neck=(4, 6), dip=(5, 26, 2, 3), run=(7, 25), sleeve="short",
            zips=((2, (30, 31), 16), (26, (27, 28, 29), 17))),
    4: dict(L=dict(shoulder=7, cuff_out=10, cuff_in=11, armpit=14, corner=19, center=20),
            R=dict(shoulder=33, cuff_out=30, cuff_in=29, armpit=26, corner=21, center=20),
            neck=(2, 6), dip=(5, 34, 4, 3), run=(7, 33), sleeve="long",
            zips=((4, (38, 39), 20), (34, (35, 36, 37), 20))),
    5: dict(L=dict(shoulder=7, armpit=8, corner=10, center=11),
            R=dict(shoulder=15, armpit=14, corner=12, center=11),
            neck=(2, 6), dip=(5, 4, 3), run=(7, 15), sleeve="none"),
    6: dict(L=dict(armpit=8, corner=10, center=11), R=dict(armpit=14, corner=12, center=11),
            neck=(2, 6), dip=(5, 4, 3), run=(8, 14), sleeve="sling", straps=(7, 15)),
    10: dict(L=dict(shoulder=7, cuff_out=9, cuff_in=10, armpit=11, waist=13, corner=17, center=18),
             R=dict(shoulder=29, cuff_out=27, cuff_in=26, armpit=25, waist=23, corner=19, center=18),
             neck=(2, 6), dip=(5, 4, 3), run=(7, 29), sleeve="short"),
    11: dict(L=dict(shoulder=7, cuff_out=10, cuff_in=11, armpit=14, waist=16, corner=21, center=22),
             R=dict(shoulder=37, cuff_out=34, cuff_in=33, armpit=30, waist=28, corner=23, center=22),
             neck=(2, 6), dip=(5, 4, 3), run=(7, 37), sleeve="long"),
    12: dict(L=dict(shoulder=7, armpit=8, waist=9, corner=12, center=13),
             R=dict(shoulder=19, armpit=18, waist=17, corner=14, center=13),
             neck=(2, 6), dip=(5, 4, 3), run=(7, 19), sleeve="none"),
    13: dict(L=dict(armpit=8, waist=9, corner=12, center=13), R=dict(armpit=18, waist=17, corner=14, center=13),
             neck=(2, 6), dip=(5, 4, 3), run=(8, 18), sleeve="sling", straps=(7, 19)),
}
DRESSES = (10, 11, 12, 13)
TOPS = (1, 2, 3, 4, 5, 6)
BOTTOMS = (7, 8, 9)


@dataclass
class GarmentShape:
    """A garment's silhouette parts (closed ``(k, 2)`` polygons), landmarks ``(n, 3)``
    with v=2, and decorative seam polylines (zip, waistband)."""

    category: int
    parts: list[np.ndarray]
    landmarks: np.ndarray
    seams: list[np.ndarray] = field(default_factory=list)


def chaikin(points: np.ndarray, iterations: int = 2) -> np.ndarray:
    """Round the corners of a closed polygon by Chaikin corner cutting."""
    for _ in range(iterations):
        nxt = np.roll(points, -1, axis=0)
        points = np.stack([0.8 * points + 0.2 * nxt, 0.2 * points + 0.8 * nxt], axis=1).reshape(-1, 2)
    return points


def _fill_run(anchors: dict[int, np.ndarray], seq: list[int]) -> np.ndarray:
    """Contour points for every number of ``seq``: anchors as given, the others
    evenly spaced on the straight edge between their anchored neighbours."""
    known = [i for i, n in enumerate(seq) if n in anchors]
    pts = np.zeros((len(seq), 2))
    for a, b in zip(known, known[1:] + [known[0] + len(seq)]):
        pa, pb = anchors[seq[a]], anchors[seq[b % len(seq)]]
        for j in range(a, b):
            pts[j % len(seq)] = pa + (j - a) / (b - a) * (pb - pa)
    return pts


def _assemble(category: int, anchors: dict[int, np.ndarray], seq: list[int],
              extra: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Contour through ``seq`` plus the full ``(n, 3)`` landmark array."""
    contour = _fill_run(anchors, seq)
    marks = np.zeros((LANDMARK_COUNTS[category], 3))
    for number, point in zip(seq, contour):
        marks[number - 1] = (*point, 2)
    for number, point in extra.items():
        marks[number - 1] = (*point, 2)
    return contour, marks


def _upper_left(body: Body, spec: dict, g: dict) -> dict[str, np.ndarray]:
    """Anchor positions of an upper garment's image-left half, by role."""
    cx, fh, sy = body.cx, body.fh, body.shoulder_y
    start, down, out = body.arm_frame()
    half_arm = body.arm_w / 2 + g["ease"]
    cuff = start + down * g["sleeve"]
    roles = {
        "shoulder": np.array([cx - body.shoulder_w * g["shoulder"] - g["ease"], sy + 0.008 * fh]),
        "cuff_out": cuff + out * half_arm,
        "cuff_in": cuff - out * half_arm,
        "armpit": np.array([cx - body.shoulder_w + body.arm_w - g["ease"], sy + 0.09 * fh]),
        "waist": np.array([cx - body.waist_w - g["ease"], body.waist_y]),
        "corner": np.array([cx - g["hem_w"], g["hem_y"]]),
        "center": np.array([cx, g["hem_y"] + 0.006 * fh]),
    }
    if spec["sleeve"] == "sling":
        roles["armpit"][1] = sy + 0.075 * fh
    return roles


def _upper_params(category: int, body: Body, rng: np.random.Generator) -> dict:
    """Random fit of an upper garment: ease, sleeve length, hem height and width."""
    fh, spec = body.fh, _UPPER[category]
    ease = body.s(rng.uniform(0.006, 0.02))
    sleeve = {"short": rng.uniform(0.1, 0.15) * fh, "long": body.arm_length * rng.uniform(0.93, 1.0)}
    if category in DRESSES:
        hem_y = body.knee_y + rng.uniform(-0.12, 0.06 if category in (10, 12) else 0.14) * fh
        hem_w = body.hip_w + ease + (hem_y - body.hip_y) * rng.uniform(0.15, 0.45)
    else:
        long_cut = 0.06 if category in (3, 4) else 0.0
        hem_y = body.hip_y + rng.uniform(-0.04, 0.03 + long_cut) * fh
        hem_w = body.hip_w + ease + body.s(rng.uniform(0.0, 0.015) + long_cut / 3)
    return dict(ease=ease, sleeve=sleeve.get(spec["sleeve"], 0.0), hem_y=hem_y, hem_w=hem_w,
                shoulder=0.72 if spec["sleeve"] == "none" else 1.0,
                dip=rng.uniform(0.015, 0.06) * fh)


def upper_shape(category: int, body: Body, rng: np.random.Generator) -> GarmentShape:
    """Top, outwear or dress on ``body`` with its landmarks."""
    spec, g = _UPPER[category], _upper_params(category, body, rng)
    cx, sy, fh = body.cx, body.shoulder_y, body.fh
    left = _upper_left(body, spec, g)
    anchors = {n: left[r] for r, n in spec["L"].items()}
    anchors.update({n: mirror(left[r], cx) for r, n in spec["R"].items()})
    sling = spec["sleeve"] == "sling"
    neck_x = body.s(0.06) if sling else body.neck_w * 1.15
    neck_y = sy + (0.05 * fh if sling else -0.012 * fh)
    anchors[spec["neck"][0]] = np.array([cx - neck_x, neck_y])
    anchors[spec["neck"][1]] = np.array([cx + neck_x, neck_y])
    dip = spec["dip"]
    depth = g["dip"] * (0.5 if sling else 1.0)
    anchors[dip[0]] = np.array([cx + neck_x * 0.6, neck_y + depth * 0.7])
    anchors[dip[-1]] = np.array([cx - neck_x * 0.6, neck_y + depth * 0.7])
    offsets = (0.0,) if len(dip) == 3 else (0.8, -0.8)
    for number, dx in zip(dip[1:-1], offsets):
        anchors[number] = np.array([cx + dx, neck_y + depth])
    seq = [spec["neck"][0], *range(spec["run"][0], spec["run"][1] + 1), spec["neck"][1], *dip]
    extra = {1: np.array([cx, neck_y + 0.004 * fh])}
    parts, seams = [], []
    for n_strap, neck_n in zip(spec.get("straps", ()), spec["neck"]):
        sign = -1 if neck_n == spec["neck"][0] else 1
        tip = np.array([cx + sign * body.shoulder_w * 0.62, sy + 0.004 * fh])
        extra[n_strap] = tip
        base = anchors[neck_n]
        w = body.s(0.009)
        parts.append(np.array([base + (-w, 2), tip + (-w, 0), tip + (w, 0), base + (w, 2)]))
    contour, marks = _assemble(category, anchors, seq, extra)
    for top_n, mids, end_n in spec.get("zips", ()):
        a, b = anchors[top_n], anchors[end_n]
        for k, number in enumerate(mids):
            marks[number - 1] = (*(a + (k + 1) / (len(mids) + 1) * (b - a)), 2)
        seams.append(np.array([a, b]))
    return GarmentShape(category, [chaikin(contour), *parts], marks, seams)


def _leg_edge(body: Body, y: float, ease: float, side: str) -> np.ndarray:
    """Outer or inner edge point of the image-left leg at row ``y``, widened by ease."""
    c, w = body.leg_center(y), body.leg_half_width(y) + ease
    return np.array([c - w if side == "out" else c + w, y])


def lower_shape(category: int, body: Body, rng: np.random.Generator) -> GarmentShape:
    """Shorts, trousers or skirt on ``body`` with its landmarks."""
    cx, fh = body.cx, body.fh
    ease = body.s(rng.uniform(0.004, 0.018))
    wy = body.waist_y + rng.uniform(0.0, 0.04) * fh
    band = body.waist_w * rng.uniform(1.05, 1.18) + ease
    left = {1: np.array([cx - band, wy]), 4: np.array([cx - body.hip_w - ease, body.hip_y])}
    crotch = np.array([cx, body.crotch_y + 0.012 * fh])
    if category == 7:
        hy = body.crotch_y + rng.uniform(0.06, 0.15) * fh
        left.update({5: _leg_edge(body, hy, ease * 1.6, "out"), 6: _leg_edge(body, hy, ease * 1.6, "in")})
        mids, tail = {7: crotch}, {5: 9, 6: 8, 4: 10}
    elif category == 8:
        ay = min(body.ankle_y, body.top + 1.2 * fh) - rng.uniform(0.0, 0.03) * fh
        left.update({5: _leg_edge(body, body.knee_y, ease, "out"), 6: _leg_edge(body, ay, ease, "out"),
                     7: _leg_edge(body, ay, ease, "in"), 8: _leg_edge(body, body.knee_y, ease, "in")})
        mids, tail = {9: crotch}, {4: 14, 5: 13, 6: 12, 7: 11, 8: 10}
    else:
        hy = body.crotch_y + rng.uniform(0.04, 0.32) * fh
        hem_w = body.hip_w + ease + (hy - body.hip_y) * rng.uniform(0.1, 0.5)
        left[5] = np.array([cx - hem_w, hy])
        mids, tail = {6: np.array([cx, hy + 0.008 * fh])}, {4: 8, 5: 7}
    anchors = dict(left)
    anchors.update(mids)
    anchors.update({dst: mirror(left[src], cx) for src, dst in tail.items()})
    anchors[3] = mirror(left[1], cx)
    anchors[2] = np.array([cx, wy])
    seq = [1, *range(4, LANDMARK_COUNTS[category] + 1), 3, 2]
    contour, marks = _assemble(category, anchors, seq, {})
    seam = np.array([[cx - band, wy + 0.02 * fh], [cx + band, wy + 0.02 * fh]])
    return GarmentShape(category, [chaikin(contour)], marks, [seam])


def front_neckline(category: int) -> tuple[int, ...]:
    """Landmark numbers on the front neckline (hidden when the figure faces away)."""
    return _UPPER[category]["dip"] if category in _UPPER else ()


def garment_shape(category: int, body: Body, rng: np.random.Generator) -> GarmentShape:
    """Silhouette and landmarks of any of the 13 categories on ``body``."""
    if category in BOTTOMS:
        return lower_shape(category, body, rng)
    if category in _UPPER:
        return upper_shape(category, body, rng)
    raise ValueError(f"unknown category id {category}")
