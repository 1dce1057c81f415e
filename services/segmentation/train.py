"""Train the garment Mask R-CNN on a DeepFashion2-format folder and register it.

One epoch = one pass over the training split; a resumable checkpoint
(``<out_dir>/checkpoint.pt``) is written after each. At the end the loss curves
go to ``<out_dir>/loss.png``, the model is scored with COCO AP on the validation
split, and its weights plus manifest are saved in the model registry.

Under ``torchrun`` each rank trains on its shard of every global batch
(``nproc × batch_size`` images) with the model in DDP. torchvision freezes batch
norm only under pretrained weights; ours are trained from scratch, so the
MobileNetV3 and ResNet-50 backbones carry plain BatchNorm2d and it is
synchronised across ranks. Rank 0 alone checkpoints, plots, evaluates and
registers (see :mod:`fittingroom.distributed`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler
from tqdm import tqdm

from fittingroom.distributed import Distributed, distributed_session
from fittingroom.garments import CATEGORIES
from fittingroom.registry import ModelManifest
from fittingroom.segmentation.dataset import SegmentationDataset, StreamedSegmentationDataset, collate
from fittingroom.segmentation.evaluate import evaluate_model
from fittingroom.segmentation.model import build_model, model_architecture
from fittingroom.segmentation.options import SegmentationTrainOptions, lr_factor
from fittingroom.training import (
    LossHistory,
    MixedPrecision,
    load_checkpoint,
    plot_loss_curves,
    save_checkpoint,
    seed_everything,
)

__all__ = ["SegmentationTrainOptions", "TrainState", "train_segmentation"]
CHECKPOINT_FILE = "checkpoint.pt"


@dataclass
class TrainState:
    """Everything a run mutates, kept together so it can be checkpointed."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    architecture: dict[str, Any]
    history: LossHistory = field(default_factory=LossHistory)
    trained: nn.Module | None = None
    amp: MixedPrecision | None = None
    epoch: int = 0
    seconds: float = 0.0
    steps: int = 0

    def checkpoint(self, opts: SegmentationTrainOptions) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "history": self.history.state_dict(),
            "epoch": self.epoch,
            "seconds": self.seconds,
            "steps": self.steps,
            "architecture": self.architecture,
            "options": opts.to_json(),
        }

    def restore(self, checkpoint: dict[str, Any]) -> None:
        if checkpoint["architecture"] != self.architecture:
            raise ValueError(
                f"checkpoint architecture {checkpoint['architecture']} differs from {self.architecture}"
            )
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.history.load_state_dict(checkpoint["history"])
        self.epoch = int(checkpoint["epoch"])
        self.seconds = float(checkpoint.get("seconds", 0.0))
        self.steps = int(checkpoint.get("steps", 0))


def build_state(opts: SegmentationTrainOptions, iters_per_epoch: int, device: torch.device) -> TrainState:
    """Model, SGD optimizer and per-iteration LR schedule for a fresh run."""
    architecture = model_architecture(opts.backbone, **opts.builder_kwargs())
    model = build_model(architecture).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=opts.lr, momentum=opts.momentum, weight_decay=opts.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(opts, iters_per_epoch))
    return TrainState(model, optimizer, scheduler, architecture)


def train_step(state: TrainState, images: list, targets: list, grad_clip: float) -> dict[str, float]:
    """One SGD step on a batch; returns each loss term and their sum (this rank's)."""
    amp = state.amp or MixedPrecision("off", images[0].device)
    with amp.autocast():
        losses = (state.trained or state.model)(images, targets)
    total = sum(loss.float() for loss in losses.values())
    if not math.isfinite(total.item()):
        raise FloatingPointError(f"loss is {total.item()} at step {state.steps}; lower --lr or --grad-clip")
    state.optimizer.zero_grad(set_to_none=True)
    amp.backward(total)
    if grad_clip > 0:
        amp.unscale(state.optimizer)
        nn.utils.clip_grad_norm_(state.model.parameters(), grad_clip)
    amp.step(state.optimizer)
    amp.update()
    state.scheduler.step()
    state.steps += 1
    values = {name: float(v.item()) for name, v in losses.items()}
    values["loss"] = float(total.item())
    return values


def train_epoch(state: TrainState, loader: DataLoader, opts: SegmentationTrainOptions,
                dist: Distributed) -> dict[str, float]:
    """One pass over the loader with a progress bar; returns the epoch's mean losses (over ranks)."""
    state.model.train()
    sums: dict[str, float] = {}
    device = dist.device
    bar = tqdm(loader, desc=f"epoch {state.epoch + 1}/{opts.epochs}", unit="batch", disable=not dist.is_main)
    for images, targets in bar:
        images = [image.to(device) for image in images]
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        values = dist.mean(train_step(state, images, targets, opts.grad_clip))
        state.history.add_step(values)
        for name, value in values.items():
            sums[name] = sums.get(name, 0.0) + value
        bar.set_postfix(loss=f"{values['loss']:.3f}", lr=f"{state.optimizer.param_groups[0]['lr']:.4f}")
    return {name: total / max(1, len(loader)) for name, total in sums.items()}


def make_loaders(opts: SegmentationTrainOptions,
                 dist: Distributed | None = None) -> tuple[DataLoader, Dataset]:
    """Shuffled training loader (this rank's share under torchrun) and the (unflipped) validation dataset,
    from the --data-root folder or streamed from the --shards prefix."""
    if opts.shards:
        return _streamed_loaders(opts, dist)
    train = SegmentationDataset.from_split(opts.data_root, "train", opts.max_train_images or None,
                                           hflip=opts.hflip, polygon_source=opts.polygon_source,
                                           max_zoom=opts.max_zoom)
    val = SegmentationDataset.from_split(opts.data_root, "validation", opts.max_val_images or None,
                                         polygon_source=opts.polygon_source)
    if not len(train):
        raise ValueError(f"no training images under {opts.data_root}/train")
    generator = torch.Generator().manual_seed(opts.seed)
    sampler = RandomSampler(train, generator=generator)
    if dist is not None:
        sampler = dist.shard(sampler)
    loader = DataLoader(train, batch_size=opts.batch_size, sampler=sampler, collate_fn=collate,
                        num_workers=opts.num_workers, generator=generator,
                        drop_last=len(sampler) > opts.batch_size)
    return loader, val


def _streamed_loaders(opts: SegmentationTrainOptions, dist: Distributed | None) -> tuple[DataLoader, Dataset]:
    from fittingroom.s3store import store_at

    store, prefix = store_at(opts.shards)
    rank, world_size = (dist.rank, dist.world_size) if dist is not None else (0, 1)
    train = StreamedSegmentationDataset(store, prefix, "train", rank=rank, world_size=world_size, seed=opts.seed,
                                        limit=opts.max_train_images, hflip=opts.hflip,
                                        polygon_source=opts.polygon_source, max_zoom=opts.max_zoom)
    val = StreamedSegmentationDataset(store, prefix, "validation", limit=opts.max_val_images, shuffle=False,
                                      polygon_source=opts.polygon_source)
    if not len(train):
        raise ValueError(f"no training images in {opts.shards}/train")
    loader = DataLoader(train, batch_size=opts.batch_size, collate_fn=collate, num_workers=opts.num_workers,
                        drop_last=len(train) > opts.batch_size)
    return loader, val


def register(opts: SegmentationTrainOptions, state: TrainState, metrics: dict[str, Any]) -> ModelManifest:
    """Save the trained weights and manifest in the registry (``--registry`` bucket or ``--store-dir``)."""
    registry = opts.open_registry()
    manifest = ModelManifest(
        kind="segmentation",
        name=opts.name,
        version=opts.version or registry.next_version("segmentation", opts.name),
        architecture=state.architecture,
        classes=list(CATEGORIES),
        training=opts.to_json(),
        metrics=metrics,
    )
    return registry.save(manifest, state.model.state_dict(), half=opts.half)


def train_segmentation(opts: SegmentationTrainOptions) -> ModelManifest | None:
    """Train (or resume), plot losses, evaluate COCO AP, register the model.

    Under torchrun, ranks other than 0 return None.
    """
    with distributed_session(opts.device) as dist:
        return _train_segmentation(opts, dist)


def _train_segmentation(opts: SegmentationTrainOptions, dist: Distributed) -> ModelManifest | None:
    seed_everything(opts.seed)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    device = dist.device
    loader, val = make_loaders(opts, dist)
    state = build_state(opts, len(loader), device)
    if opts.resume:
        state.restore(load_checkpoint(opts.resume, map_location=device))
    state.trained = dist.wrap(state.model)
    state.amp = MixedPrecision(opts.amp, device)
    if dist.rank:  # flips, zooms and proposal sampling of its own; rank 0 keeps one process's stream
        torch.manual_seed(dist.rank_seed(opts.seed))
    out = Path(opts.out_dir)
    while state.epoch < opts.epochs:
        if isinstance(loader.dataset, StreamedSegmentationDataset):
            loader.dataset.set_epoch(state.epoch)
        started = time.perf_counter()
        state.history.add_epoch(train_epoch(state, loader, opts, dist))
        state.seconds += time.perf_counter() - started
        state.epoch += 1
        if dist.is_main:
            save_checkpoint(out / CHECKPOINT_FILE, state.checkpoint(opts))
    if not dist.is_main:
        return None
    state.history.save_json(out / "history.json")
    plot_loss_curves(state.history, out / "loss.png", f"{opts.name} ({opts.backbone})")
    metrics: dict[str, Any] = evaluate_model(state.model, val, device) if len(val) else {}
    metrics.update({
        "epochs": state.epoch,
        "train_images": len(loader.dataset),
        "world_size": dist.world_size,
        "val_images": len(val),
        "train_seconds": round(state.seconds, 1),
        "seconds_per_iteration": round(state.seconds / max(1, state.steps), 4),
        "final_loss": state.history.epochs["loss"][-1] if state.history.epochs else None,
    })
    return register(opts, state, metrics)
