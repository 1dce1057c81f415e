"""Proportions of the synthetic figure that garments are drawn on.

All lengths are pixels derived from the figure height ``fh``; garments in
:mod:`fittingroom.data.synth_shapes` and the skin in
:mod:`fittingroom.data.synth_figure` read the same body so they line up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Body:
    """A standing, front-facing figure: centre line ``cx``, head top ``top``, height ``fh``."""

    cx: float
    top: float
    fh: float
    width: float = 1.0
    arm_angle: float = 0.2
    leg_spread: float = 0.015

    def y(self, fraction: float) -> float:
        """Image row at a fraction of the figure height below the head top."""
        return self.top + fraction * self.fh

    def s(self, fraction: float) -> float:
        """A horizontal length: fraction of the figure height, times body width."""
        return fraction * self.fh * self.width

    @property
    def shoulder_y(self) -> float:
        return self.y(0.18)

    @property
    def waist_y(self) -> float:
        return self.y(0.40)

    @property
    def hip_y(self) -> float:
        return self.y(0.49)

    @property
    def crotch_y(self) -> float:
        return self.y(0.535)

    @property
    def knee_y(self) -> float:
        return self.y(0.74)

    @property
    def ankle_y(self) -> float:
        return self.y(0.95)

    @property
    def shoulder_w(self) -> float:
        return self.s(0.115)

    @property
    def neck_w(self) -> float:
        return self.s(0.032)

    @property
    def arm_w(self) -> float:
        return self.s(0.045)

    @property
    def waist_w(self) -> float:
        return self.s(0.072)

    @property
    def hip_w(self) -> float:
        return self.s(0.092)

    @property
    def arm_length(self) -> float:
        return 0.36 * self.fh

    def arm_frame(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image-left arm: shoulder joint, unit direction down the arm, outward normal."""
        a = self.arm_angle
        start = np.array([self.cx - self.shoulder_w + self.arm_w / 2, self.shoulder_y + self.s(0.02)])
        down = np.array([-np.sin(a), np.cos(a)])
        out = np.array([-np.cos(a), -np.sin(a)])
        return start, down, out

    def leg_center(self, y: float) -> float:
        """x of the image-left leg's axis at row ``y`` (hip joint to ankle)."""
        t = np.clip((y - self.crotch_y) / (self.ankle_y - self.crotch_y), 0.0, 1.0)
        hip_x = self.cx - self.s(0.048)
        ankle_x = self.cx - self.s(0.048) - self.leg_spread * self.fh
        return float(hip_x + t * (ankle_x - hip_x))

    def leg_half_width(self, y: float) -> float:
        """Half width of a leg at row ``y``: thigh to knee to ankle."""
        rows = [self.crotch_y, self.knee_y, self.ankle_y]
        widths = [self.s(0.046), self.s(0.032), self.s(0.021)]
        return float(np.interp(y, rows, widths))


def sample_body(rng: np.random.Generator, width: int, height: int) -> Body:
    """A random figure that mostly fits the frame (sometimes cut at the bottom)."""
    fh = height * rng.uniform(0.78, 1.12)
    top = rng.uniform(0.02, 0.08) * height
    body_w = rng.uniform(0.9, 1.15)
    half = 0.2 * fh * body_w
    cx = rng.uniform(max(half, width * 0.3), min(width - half, width * 0.7))
    return Body(cx=float(cx), top=float(top), fh=float(fh), width=float(body_w),
                arm_angle=float(rng.uniform(0.12, 0.38)), leg_spread=float(rng.uniform(0.0, 0.04)))


def mirror(points: np.ndarray, cx: float) -> np.ndarray:
    """Reflect ``(..., 2)`` points about the vertical line ``x = cx``."""
    out = np.array(points, dtype=np.float64, copy=True)
    out[..., 0] = 2 * cx - out[..., 0]
    return out
