"""Helpers every training command shares: seeding, devices, mixed precision, checkpoints, loss plots.

Checkpoints are our own files (model, optimizer and scheduler state plus the
epoch reached) written with ``torch.save`` and read back with
``weights_only=True``, so resuming never runs pickled code.
"""

from __future__ import annotations

import json
import random
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Make a training run repeatable for a seed."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_torch_threads(threads: int) -> None:
    """Pin torch's intra-op CPU threads; 0 keeps torch's default."""
    if threads > 0:
        torch.set_num_threads(threads)


def select_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


AMP_MODES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class MixedPrecision:
    """Autocast and, for float16, loss scaling of one training run (``--amp off|bf16|fp16``).

    bfloat16 keeps float32's range and needs no scaling; float16 does, so its
    backward goes through a GradScaler that skips steps whose gradients overflowed.
    With ``off`` every method is the plain float32 step.
    """

    def __init__(self, mode: str, device: torch.device) -> None:
        if mode not in AMP_MODES:
            raise ValueError(f"amp '{mode}' not one of {', '.join(AMP_MODES)}")
        self.device_type, self.dtype = device.type, AMP_MODES[mode]
        self.scaler = torch.amp.GradScaler(device.type, enabled=mode == "fp16")

    def autocast(self) -> AbstractContextManager:
        """The context the forward pass and loss run in."""
        return torch.autocast(self.device_type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None)

    def backward(self, loss: torch.Tensor) -> None:
        """Backpropagate ``loss`` (scaled up first under float16, so small gradients survive)."""
        self.scaler.scale(loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Bring gradients back to their true scale (before clipping them)."""
        self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """Step ``optimizer`` on unscaled gradients; float16 skips the step if any overflowed."""
        self.scaler.step(optimizer)

    def update(self) -> None:
        """Adjust the loss scale once per iteration, after every optimizer's step."""
        self.scaler.update()


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write a resumable training state atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` without unpickling code."""
    return torch.load(Path(path), map_location=map_location, weights_only=True)


class LossHistory:
    """Per-step and per-epoch loss values, kept for plots and the manifest."""

    def __init__(self) -> None:
        self.steps: dict[str, list[float]] = {}
        self.epochs: dict[str, list[float]] = {}

    def add_step(self, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.steps.setdefault(name, []).append(float(value))

    def add_epoch(self, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.epochs.setdefault(name, []).append(float(value))

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "epochs": self.epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = {k: list(v) for k, v in state.get("steps", {}).items()}
        self.epochs = {k: list(v) for k, v in state.get("epochs", {}).items()}

    def save_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.state_dict(), indent=1))


def plot_loss_curves(history: LossHistory, path: str | Path, title: str) -> Path:
    """Write a PNG with one smoothed curve per loss term, by step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, values in sorted(history.steps.items()):
        ys = np.asarray(values, dtype=float)
        window = max(1, len(ys) // 50)
        smooth = np.convolve(ys, np.ones(window) / window, mode="valid")
        ax.plot(np.arange(len(smooth)) + window - 1, smooth, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    if history.steps:
        ax.legend(loc="upper right", fontsize="small")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def save_figure(fig, path: str | Path, dpi: int = 100) -> Path:
    """Lay out, write (creating the folder) and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
