"""Backgrounds and the person under the clothes: skin, shoes, hands, head and hair.

Drawing works on a float32 RGB canvas in 0..1. Functions that draw over garments
(hands, hair) also clear the garment label map where they paint, so garment masks
are exactly the visible cloth.
"""

from __future__ import annotations

import cv2
import numpy as np

from fittingroom.data.synth_body import Body, mirror

SKIN_TONES = np.array([[241, 204, 178], [224, 172, 135], [198, 141, 101], [160, 106, 70],
                       [120, 78, 52], [88, 57, 40]], np.float32) / 255.0
HAIR_COLOURS = np.array([[25, 20, 18], [70, 45, 28], [120, 85, 50], [200, 165, 100],
                         [140, 60, 35], [150, 150, 150]], np.float32) / 255.0


def _poly(canvas: np.ndarray, points: np.ndarray, colour: np.ndarray) -> None:
    cv2.fillPoly(canvas, [np.round(points * 16).astype(np.int32)], colour.tolist(), cv2.LINE_AA, shift=4)


def _ellipse(canvas: np.ndarray, centre: np.ndarray, axes: tuple[float, float], colour: np.ndarray,
             smooth: bool = True) -> None:
    """Filled ellipse; ``smooth=False`` for label maps, where edges must stay exact."""
    c = tuple(int(round(v * 16)) for v in centre)
    a = tuple(max(16, int(round(v * 16))) for v in axes)
    line = cv2.LINE_AA if smooth else cv2.LINE_8
    cv2.ellipse(canvas, c, a, 0.0, 0, 360, colour.tolist(), -1, line, shift=4)


def user_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """An indoor/outdoor-ish scene: tinted wall, floor band, a few panels, soft noise."""
    hsv = np.array([rng.uniform(0, 180), rng.uniform(10, 110), rng.uniform(90, 230)], np.float32)
    wall = cv2.cvtColor(hsv.reshape(1, 1, 3).astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0] / 255.0
    canvas = np.empty((height, width, 3), np.float32)
    canvas[:] = wall
    for _ in range(int(rng.integers(0, 4))):
        x1, y1 = rng.uniform(-0.2, 0.9) * width, rng.uniform(-0.2, 0.7) * height
        w, h = rng.uniform(0.15, 0.6) * width, rng.uniform(0.15, 0.7) * height
        tone = np.clip(wall * rng.uniform(0.6, 1.3) + rng.normal(0, 0.05, 3), 0, 1)
        cv2.rectangle(canvas, (int(x1), int(y1)), (int(x1 + w), int(y1 + h)), tone.tolist(), -1)
    horizon = int(rng.uniform(0.7, 0.95) * height)
    floor = np.clip(rng.uniform(0.2, 0.7) * np.array([1.0, 0.9, 0.8]) + rng.normal(0, 0.06, 3), 0, 1)
    canvas[horizon:] = floor
    noise = cv2.GaussianBlur(rng.normal(0, 0.05, (height, width)).astype(np.float32), (0, 0), 3)
    return np.clip(canvas + noise[..., None], 0, 1)


def shop_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A plain light product-photo background with a faint vertical gradient."""
    base = rng.uniform(0.88, 0.99) + rng.normal(0, 0.01, 3)
    ramp = np.linspace(0.0, rng.uniform(-0.06, 0.02), height, dtype=np.float32)[:, None, None]
    return np.clip(np.ones((height, width, 3), np.float32) * base.astype(np.float32) + ramp, 0, 1)


def _arm_polygon(body: Body) -> np.ndarray:
    start, down, out = body.arm_frame()
    end = start + down * body.arm_length
    half = body.arm_w / 2
    return np.array([start + out * half, end + out * half * 0.75, end - out * half * 0.75,
                     start - out * half])


def _leg_polygon(body: Body, bottom: float) -> np.ndarray:
    rows = np.linspace(body.hip_y, bottom, 6)
    outer = [(body.leg_center(y) - body.leg_half_width(y), y) for y in rows]
    inner = [(body.leg_center(y) + body.leg_half_width(y), y) for y in rows[::-1]]
    return np.array(outer + inner)


def draw_body(canvas: np.ndarray, body: Body, skin: np.ndarray, shoes: np.ndarray) -> None:
    """Skin of legs, arms, torso, neck and head, plus shoes; garments go on top."""
    for part in (_leg_polygon(body, body.ankle_y), _arm_polygon(body)):
        _poly(canvas, part, skin)
        _poly(canvas, mirror(part, body.cx)[::-1], skin)
    sw, hw = body.shoulder_w, body.hip_w
    torso = np.array([[body.cx - sw, body.shoulder_y + body.s(0.01)], [body.cx + sw, body.shoulder_y + body.s(0.01)],
                      [body.cx + hw, body.hip_y], [body.cx + body.s(0.05), body.crotch_y + 4],
                      [body.cx - body.s(0.05), body.crotch_y + 4], [body.cx - hw, body.hip_y]])
    _poly(canvas, torso, skin * 0.97)
    neck = np.array([[body.cx - body.neck_w, body.y(0.1)], [body.cx + body.neck_w, body.y(0.1)],
                     [body.cx + body.neck_w * 1.2, body.shoulder_y + 3], [body.cx - body.neck_w * 1.2, body.shoulder_y + 3]])
    _poly(canvas, neck, skin * 0.9)
    _ellipse(canvas, np.array([body.cx, body.y(0.075)]), (body.s(0.05), 0.068 * body.fh), skin)
    for side in (-1, 1):
        foot = np.array([body.leg_center(body.ankle_y), body.ankle_y + 0.02 * body.fh])
        foot = mirror(foot, body.cx) if side > 0 else foot
        _ellipse(canvas, foot + (side * body.s(0.012), 0), (body.s(0.035), body.s(0.02)), shoes)


def draw_hands(canvas: np.ndarray, labels: np.ndarray, body: Body, skin: np.ndarray) -> None:
    """Hands at the ends of both arms, painted over (and un-labelling) cloth."""
    start, down, _ = body.arm_frame()
    hand = start + down * (body.arm_length + body.arm_w * 0.55)
    for centre in (hand, mirror(hand, body.cx)):
        _ellipse(canvas, centre, (body.arm_w * 0.55, body.arm_w * 0.75), skin * 0.95)
        _ellipse(labels, centre, (body.arm_w * 0.55, body.arm_w * 0.75), np.array([0]), smooth=False)


def draw_head(canvas: np.ndarray, labels: np.ndarray, body: Body, rng: np.random.Generator,
              hair: np.ndarray, back_view: bool) -> None:
    """Hair (sometimes long, over the shoulders) and, seen from the front, a face."""
    head = np.array([body.cx, body.y(0.075)])
    _ellipse(canvas, head - (0, 0.045 * body.fh), (body.s(0.056), 0.036 * body.fh), hair)
    if back_view:
        _ellipse(canvas, head, (body.s(0.052), 0.066 * body.fh), hair)
    if rng.random() < 0.4:
        length = body.y(rng.uniform(0.2, 0.34))
        locks = np.array([[body.cx - body.s(0.06), head[1] - 0.03 * body.fh], [body.cx + body.s(0.06), head[1] - 0.03 * body.fh],
                          [body.cx + body.s(0.075), length], [body.cx - body.s(0.075), length]])
        layer = np.zeros(labels.shape, np.float32)
        _poly(layer, locks, np.array([1.0]))
        if not back_view:
            _ellipse(layer, head + (0, 0.01 * body.fh), (body.s(0.042), 0.055 * body.fh), np.array([0.0]))
            _poly(layer, np.array([[body.cx - body.s(0.035), head[1]], [body.cx + body.s(0.035), head[1]],
                                   [body.cx + body.s(0.035), length], [body.cx - body.s(0.035), length]]), np.array([0.0]))
        drawn = layer > 0.5
        canvas[drawn] = hair
        labels[drawn] = 0
    if not back_view:
        for side in (-1, 1):
            _ellipse(canvas, head + (side * body.s(0.018), -0.004 * body.fh), (1.3, 1.3), np.array([0.1, 0.08, 0.08]))
        cv2.line(canvas, (int(head[0] - body.s(0.012)), int(head[1] + 0.03 * body.fh)),
                 (int(head[0] + body.s(0.012)), int(head[1] + 0.03 * body.fh)), (0.5, 0.25, 0.25), 1, cv2.LINE_AA)


def lighting(canvas: np.ndarray, rng: np.random.Generator, amount: float = 0.25) -> np.ndarray:
    """A soft global light gradient and sensor noise over the finished picture."""
    h, w = canvas.shape[:2]
    gx, gy = rng.normal(0, 1, 2)
    scale = amount / (np.hypot(gx, gy) + 1e-6)
    xs = (np.arange(w, dtype=np.float32) / w - 0.5) * np.float32(gx * scale)
    ys = (np.arange(h, dtype=np.float32) / h - 0.5) * np.float32(gy * scale)
    ramp = 1.0 + ys[:, None] + xs[None, :]
    warm = (1.0 + rng.normal(0, 0.03, 3)).astype(np.float32)
    noisy = canvas * ramp[..., None] * warm
    noisy += rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(0.012)
    return np.clip(noisy, 0, 1, out=noisy)
