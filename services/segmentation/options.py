"""Training options for the segmentation model, one dataclass (each field is a CLI option, see fittingroom.options).

Defaults follow the original project's recipe (30 epochs, horizontal flips) with
SGD settings from torchvision's detection reference scaled to a batch of 4.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fittingroom.options import TrainOptions, option

LR_SCHEDULES: tuple[str, ...] = ("cosine", "step")


@dataclass
class SegmentationTrainOptions(TrainOptions):
    """Every knob of one segmentation training run (each is a ``fittingroom train segmentation`` option)."""

    data_root: Path = option(Path("var/data/deepfashion2"), "DeepFashion2-format folder with train/ and validation/.")
    shards: str = option("", "Stream DeepFashion2 tar shards (WebDataset layout, written by `fittingroom data shard`) "
                         "from s3://<bucket>/<prefix> instead of reading --data-root: each rank and DataLoader "
                         "worker fetches only the shards dealt to it, one at a time, into memory.")
    out_dir: Path = option(Path("var/runs/segmentation"), "Checkpoint, loss history and loss-curve PNG.")
    backbone: str = option("maskrcnn_mobilenet_v3_large_fpn", "Builder: maskrcnn_mobilenet_v3_large_fpn (CPU) or "
                           "maskrcnn_resnet50_fpn_v2 (GPU).")
    min_size: int = option(0, "Shorter side after resizing (0: builder default).")
    max_size: int = option(0, "Longer-side limit after resizing (0: builder default).")
    anchor_sizes: str = option("", "Comma-separated anchor size per FPN level, e.g. 48,96,192,384 (empty: builder "
                               "default); scale them with --min-size.")
    polygon_source: str = option("segmentation", "Mask polygons: segmentation or landmarks.")
    epochs: int = option(30, "Training epochs.")
    batch_size: int = option(4, "Images per step.")
    lr: float = option(0.02, "Peak SGD learning rate.")
    momentum: float = option(0.9, "SGD momentum.")
    weight_decay: float = option(1e-4, "SGD weight decay.")
    lr_schedule: str = option("cosine", f"Learning-rate schedule: {' or '.join(LR_SCHEDULES)} (cosine: per step to 0).")
    warmup_iters: int = option(100, "Linear warmup steps.")
    lr_step_epochs: int = option(20, "step schedule: epochs per decay.")
    lr_gamma: float = option(0.1, "step schedule: decay factor.")
    grad_clip: float = option(10.0, "Max gradient norm (0: off).")
    hflip: bool = option(True, "Random horizontal flips.")
    max_zoom: float = option(2.0, "Half the samples are a random 1/zoom window scaled up, zoom up to this (1 = off): "
                             "garments at several scales.")
    max_train_images: int = option(0, "Use the first N training images (0: all).")
    max_val_images: int = option(0, "Evaluate the first N validation images (0: all).")
    resume: str = option("", "Checkpoint to continue from (e.g. <out_dir>/checkpoint.pt).")
    name: str = option("maskrcnn-mobilenet", "Registry model name.")

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
