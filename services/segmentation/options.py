"""Training options for the segmentation model, one dataclass (each field is a CLI option).

Defaults follow the original project's recipe (30 epochs, horizontal flips) with
SGD settings from torchvision's detection reference scaled to a batch of 4.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LR_SCHEDULES: tuple[str, ...] = ("cosine", "step")


@dataclass
class SegmentationTrainOptions:
    """Every knob of one segmentation training run."""

    data_root: str = "var/data/deepfashion2"
    out_dir: str = "var/runs/segmentation"
    backbone: str = "maskrcnn_mobilenet_v3_large_fpn"
    min_size: int = 0
    max_size: int = 0
    anchor_sizes: str = ""
    polygon_source: str = "segmentation"
    epochs: int = 30
    batch_size: int = 4
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_schedule: str = "cosine"
    warmup_iters: int = 100
    lr_step_epochs: int = 20
    lr_gamma: float = 0.1
    grad_clip: float = 10.0
    hflip: bool = True
    max_zoom: float = 2.0
    num_workers: int = 0
    num_threads: int = 0
    max_train_images: int = 0
    max_val_images: int = 0
    device: str = "auto"
    seed: int = 0
    resume: str = ""
    store_dir: str = "var/models"
    model_name: str = "maskrcnn-mobilenet"
    version: str = "v1"
    half: bool = True

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule '{self.lr_schedule}' not in {LR_SCHEDULES}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        if self.max_zoom < 1.0:
            raise ValueError("max_zoom must be at least 1 (1 = no zoom crops)")

    def builder_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the model builder (0 sizes mean the builder's default)."""
        kwargs: dict[str, Any] = {}
        if self.min_size:
            kwargs["min_size"] = self.min_size
        if self.max_size:
            kwargs["max_size"] = self.max_size
        if self.anchor_sizes:
            kwargs["anchor_sizes"] = [int(v) for v in self.anchor_sizes.split(",")]
        return kwargs

    def to_json(self) -> dict[str, Any]:
        """The options as a JSON-safe dict (for the manifest and checkpoints)."""
        return dataclasses.asdict(self)


def lr_factor(opts: SegmentationTrainOptions, iters_per_epoch: int) -> Callable[[int], float]:
    """Per-iteration multiplier of the base learning rate: linear warmup, then decay.

    ``cosine`` decays to zero over the whole run; ``step`` multiplies by
    ``lr_gamma`` every ``lr_step_epochs`` epochs.
    """
    total = max(1, opts.epochs * iters_per_epoch)
    warmup = min(opts.warmup_iters, total - 1)

    def factor(step: int) -> float:
        scale = 1.0
        if step < warmup:
            scale = 0.001 + (1 - 0.001) * step / warmup
        if opts.lr_schedule == "step":
            return scale * opts.lr_gamma ** (step // (iters_per_epoch * opts.lr_step_epochs))
        progress = min(1.0, step / total)
        return scale * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor
