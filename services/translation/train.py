"""Train one style-class generator and register it (``fittingroom train translation``).

A run folder (``opts.out_dir``) receives, every epoch, a resumable checkpoint and a
sample grid (rows: real A, fake B, rec A, real B, fake A, rec B), and at the end the
loss curves and the loss history. Only ``G_A`` (source → style class) goes to the
model registry, as kind ``translation`` named by the style class key.

Under ``torchrun`` each rank trains on its shard of every global batch
(``nproc × batch_size`` pairs) with all four networks in DDP (instance norm: no
statistics to synchronise); each rank draws its own crops, flips and target
images, and keeps its own image pool. Rank 0 alone writes samples, checkpoints,
plots and the registry entry (see :mod:`fittingroom.distributed`).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import DataLoader, RandomSampler
from tqdm import tqdm

from fittingroom.distributed import Distributed, distributed_session
from fittingroom.registry import ModelManifest
from fittingroom.training import (
    LossHistory, load_checkpoint, plot_loss_curves, save_checkpoint, seed_everything,
)
from fittingroom.translation.dataset import UnpairedFolderDataset, to_uint8
from fittingroom.translation.model import LOSS_NAMES, CycleGANModel
from fittingroom.translation.options import TranslationTrainOptions
from fittingroom.translation.visuals import sample_grid

CHECKPOINT_FILE = "checkpoint.pt"

__all__ = ["UnpairedFolderDataset", "train_translation", "make_loader"]


def make_loader(dataset: UnpairedFolderDataset, opts: TranslationTrainOptions,
                dist: Distributed | None = None) -> DataLoader:
    """Shuffled loader (this rank's shard under torchrun); ``max_images_per_epoch`` sets the epoch length."""
    sampler = RandomSampler(dataset, num_samples=opts.max_images_per_epoch or None)
    if dist is not None:
        sampler = dist.shard(sampler)
    return DataLoader(dataset, batch_size=opts.batch_size, sampler=sampler, num_workers=opts.num_workers)


def _resume(model: CycleGANModel, history: LossHistory, path: Path, dist: Distributed) -> tuple[int, int]:
    """Load a checkpoint into the model and history; returns (epochs done, steps done).

    Every rank takes rank 0's torch RNG (it orders the shared sampler); only rank 0
    takes its Python RNG (crops, flips, targets), so other ranks keep their own draws.
    """
    state = load_checkpoint(path)
    model.load_state_dict(state["model"])
    history.load_state_dict(state["history"])
    torch.set_rng_state(state["torch_rng"])
    if dist.is_main:
        random.setstate(state["python_rng"])
    return int(state["epoch"]), int(state["step"])


def _checkpoint(model: CycleGANModel, history: LossHistory, opts: TranslationTrainOptions, epoch: int, step: int) -> dict[str, Any]:
    return {
        "model": model.state_dict(), "history": history.state_dict(), "options": opts.to_json(),
        "epoch": epoch, "step": step, "torch_rng": torch.get_rng_state(), "python_rng": random.getstate(),
    }


def _write_samples(model: CycleGANModel, samples: tuple[torch.Tensor, torch.Tensor], path: Path) -> Path:
    visuals = model.visuals(*samples)
    grid = sample_grid({name: to_uint8(images) for name, images in visuals.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)
    return path


def _run_epoch(model: CycleGANModel, loader: DataLoader, history: LossHistory, step: int, bar: tqdm,
               dist: Distributed) -> tuple[dict[str, float], int]:
    """Train over one epoch; returns the epoch's mean losses (over ranks) and the next global step."""
    totals = {name: 0.0 for name in LOSS_NAMES}
    count = 0
    for batch in loader:
        losses = dist.mean(model.train_step(batch["A"], batch["B"], step))
        history.add_step(losses)
        for name in LOSS_NAMES:
            totals[name] += losses[name]
        count += 1
        step += 1
        bar.update(1)
        bar.set_postfix({k: f"{losses[k]:.3f}" for k in ("G_A", "cycle_A", "D_A")})
    return {name: total / max(count, 1) for name, total in totals.items()}, step


def _register(
    opts: TranslationTrainOptions, model: CycleGANModel, history: LossHistory, run: dict[str, Any]
) -> ModelManifest:
    registry = opts.open_registry()
    final = {name: values[-1] for name, values in history.epochs.items()}
    manifest = ModelManifest(
        kind="translation",
        name=opts.style_class,
        version=opts.version or registry.next_version("translation", opts.style_class),
        architecture=model.architecture,
        classes=[opts.style_class],
        training={**opts.to_json(), **run},
        metrics={f"final_{name}": value for name, value in final.items()},
    )
    return registry.save(manifest, model.G_A.state_dict(), half=opts.half)


def train_translation(opts: TranslationTrainOptions) -> ModelManifest | None:
    """Train G_A/G_B/D_A/D_B for ``opts`` and register G_A; returns the saved manifest.

    Under torchrun, ranks other than 0 return None.
    """
    opts.validate()
    with distributed_session(opts.device) as dist:
        return _train_translation(opts, dist)


def _train_translation(opts: TranslationTrainOptions, dist: Distributed) -> ModelManifest | None:
    seed_everything(opts.seed)
    random.seed(dist.rank_seed(opts.seed))
    if opts.threads:
        torch.set_num_threads(opts.threads)
    device = dist.device
    dataset = UnpairedFolderDataset(opts.source_dir, opts.target_dir, opts.load_size, opts.crop_size, opts.hflip)
    samples = dataset.fixed_samples(opts.sample_count)
    model = CycleGANModel(opts, device, wrap=dist.wrap)
    history = LossHistory()
    if opts.init_from and not opts.resume:
        model.load_networks(load_checkpoint(Path(opts.init_from))["model"])
    epoch, step = _resume(model, history, Path(opts.resume), dist) if opts.resume else (0, 0)
    loader = make_loader(dataset, opts, dist)
    out_dir = Path(opts.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start_step, started = step, time.perf_counter()
    with tqdm(total=len(loader) * opts.total_epochs, initial=step, desc=f"translation {opts.style_class}",
              unit="step", disable=not dist.is_main) as bar:
        for epoch in range(epoch, opts.total_epochs):
            means, step = _run_epoch(model, loader, history, step, bar, dist)
            history.add_epoch({**means, "lr": model.lr})
            model.end_epoch()
            if dist.is_main:
                _write_samples(model, samples, out_dir / "samples" / f"epoch_{epoch + 1:03d}.png")
                save_checkpoint(out_dir / CHECKPOINT_FILE, _checkpoint(model, history, opts, epoch + 1, step))
    if not dist.is_main:
        return None
    seconds = time.perf_counter() - started
    plot_loss_curves(history, out_dir / "loss_curves.png", f"CycleGAN {opts.style_class}")
    history.save_json(out_dir / "history.json")
    run = {
        "steps": step, "epochs_trained": opts.total_epochs, "device": str(device), "world_size": dist.world_size, "seconds": round(seconds, 2),
        "seconds_per_step": round(seconds / max(step - start_step, 1), 4), "source_images": len(dataset.files_a),
        "target_images": len(dataset.files_b),
    }
    return _register(opts, model, history, run)
