"""Train StyleNet on style crops and publish it to the model registry.

One run: AdamW + per-step cosine (or constant) learning rate, summed cross-entropy of
the colour and pattern heads, validation after every epoch, a resumable checkpoint
after every epoch, then loss-curve and confusion-matrix PNGs in ``out_dir`` and the
weights + manifest in the registry under ``models/style/<name>/<version>/``.

Each epoch reseeds the shuffling and augmentation RNGs from ``seed`` and the epoch
number, so a resumed run continues exactly as an uninterrupted one would.

Under ``torchrun`` each rank trains on its shard of every global batch
(``nproc × batch_size`` crops) with DDP and synchronised batch norm; rank 0 alone
evaluates, checkpoints, plots and registers (see :mod:`fittingroom.distributed`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler
from tqdm import tqdm

from fittingroom.distributed import Distributed, distributed_session
from fittingroom.garments import COLOUR_NAMES, PATTERNS
from fittingroom.options import TrainOptions, option
from fittingroom.registry import ModelManifest, ModelRegistry
from fittingroom.storage import LocalFolderStore
from fittingroom.style.dataset import StyleCropDataset
from fittingroom.style.metrics import StyleEvaluation, evaluate_style, write_confusion_plots
from fittingroom.style.model import StyleNet, build_model, load_model, model_architecture
from fittingroom.style.preprocess import MASK_EDGE_TRIM
from fittingroom.style.stage import encode_style_classes, style_classes
from fittingroom.training import (
    LossHistory,
    MixedPrecision,
    load_checkpoint,
    plot_loss_curves,
    save_checkpoint,
    seed_everything,
    select_device,
)

SCHEDULES = ("cosine", "constant")
CHECKPOINT_FILE = "checkpoint.pt"


@dataclass
class StyleTrainOptions(TrainOptions):
    """Every knob of a StyleNet training run (each is a ``fittingroom train style`` option).

    Defaults are the starter config: ~3 min for ~1500 crops on a busy 2-core CPU with
    ``threads=1`` (more threads than free cores makes torch several times slower).
    """

    data_root: Path = option(Path("var/data"), "Folder containing styles/{train,validation}/.")
    out_dir: Path = option(Path("var/runs/style"), "Checkpoint, loss curve and confusion PNGs.")
    epochs: int = option(24, "Training epochs.")
    batch_size: int = option(32, "Crops per step.")
    lr: float = option(2e-3, "Peak AdamW learning rate.")
    weight_decay: float = option(1e-4, "AdamW weight decay.")
    schedule: str = option("cosine", f"Learning-rate schedule: {' or '.join(SCHEDULES)} (cosine: per-step decay to 0).")
    width: int = option(16, "Trunk width (channels of the first stage).")
    input_size: int = option(96, "Side of the square garment crop the network reads.")
    spectrum: bool = option(True, "Feed the garment's masked power spectrum (scale × orientation) to the heads.")
    hidden: int = option(64, "Hidden units in each head.")
    dropout: float = option(0.1, "Dropout before each head's output.")
    augment: bool = option(True, "Random flips, rescales, edge trims and shading of the training crops.")
    jitter: float = option(0.15, "Shading/brightness jitter.")
    scale_min: float = option(0.9, "Smallest random rescale.")
    edge_trim: float = option(
        0.12, f"Largest random trim of the garment's edge, as a share of its shorter side (serving trims {MASK_EDGE_TRIM}).")
    label_smoothing: float = option(0.05, "Label smoothing of both heads' cross-entropy.")
    resume: bool = option(False, "Continue from out_dir/checkpoint.pt if present.")
    name: str = option("stylenet", "Registry model name.")


def _loaders(opts: StyleTrainOptions, generator: torch.Generator,
             dist: Distributed) -> tuple[DataLoader, DataLoader]:
    train_ds = StyleCropDataset(opts.data_root, "train", augment=opts.augment,
                                jitter=opts.jitter, scale_min=opts.scale_min, size=opts.input_size,
                                edge_trim=opts.edge_trim)
    try:
        val_ds = StyleCropDataset(opts.data_root, "validation", size=opts.input_size)
    except FileNotFoundError:
        if dist.is_main:
            tqdm.write("no validation split; scoring on the un-augmented train split")
        val_ds = StyleCropDataset(opts.data_root, "train", size=opts.input_size)
    sampler = dist.shard(RandomSampler(train_ds, generator=generator))
    train = DataLoader(train_ds, batch_size=opts.batch_size, sampler=sampler, drop_last=False,
                       num_workers=opts.num_workers, generator=generator)
    val = DataLoader(val_ds, batch_size=max(opts.batch_size, 128), num_workers=opts.num_workers)
    return train, val


def _scheduler(opts: StyleTrainOptions, optimizer: torch.optim.Optimizer, total_steps: int):
    if opts.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps))
    if opts.schedule == "constant":
        return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    raise ValueError(f"unknown schedule '{opts.schedule}'; choose one of {', '.join(SCHEDULES)}")


def _train_epoch(model: nn.Module, loader: DataLoader, optimizer, scheduler, criterion,
                 dist: Distributed, amp: MixedPrecision, history: LossHistory, desc: str) -> dict[str, float]:
    """One pass over ``loader``; returns the epoch's mean losses (averaged over ranks)."""
    model.train()
    device = dist.device
    sums = {"loss": 0.0, "colour": 0.0, "pattern": 0.0}
    bar = tqdm(loader, desc=desc, leave=False, unit="batch", disable=not dist.is_main)
    for images, colours, patterns in bar:
        with amp.autocast():
            colour_logits, pattern_logits = model(images.to(device))
            colour_loss = criterion(colour_logits.float(), colours.to(device))
            pattern_loss = criterion(pattern_logits.float(), patterns.to(device))
            loss = colour_loss + pattern_loss
        optimizer.zero_grad(set_to_none=True)
        amp.backward(loss)
        amp.step(optimizer)
        amp.update()
        scheduler.step()
        step = dist.mean({"loss": loss.item(), "colour": colour_loss.item(), "pattern": pattern_loss.item()})
        history.add_step(step)
        for k, v in step.items():
            sums[k] += v
        bar.set_postfix(loss=f"{step['loss']:.3f}")
    return {k: v / max(1, len(loader)) for k, v in sums.items()}


def _resume(path: Path, model, optimizer, scheduler, history: LossHistory,
            dist: Distributed) -> tuple[int, list[float]]:
    """Restore a checkpoint (every rank reads rank 0's); returns (epochs already done, their durations)."""
    state = load_checkpoint(path, map_location=dist.device)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    history.load_state_dict(state["history"])
    if dist.is_main:
        tqdm.write(f"resumed from {path} after epoch {state['epoch']}")
    return int(state["epoch"]), list(state.get("epoch_seconds", []))


def _publish(opts: StyleTrainOptions, model: StyleNet, arch: dict, evaluation: StyleEvaluation,
             history: LossHistory, epoch_seconds: list[float], train_count: int, world_size: int) -> ModelManifest:
    registry = opts.open_registry()
    training = opts.to_json() | {
        "train_count": train_count,
        "world_size": world_size,
        "epoch_seconds": [round(s, 2) for s in epoch_seconds],
        "final_train_loss": history.epochs.get("train_loss", [None])[-1],
    }
    manifest = ModelManifest(
        kind="style", name=opts.name, version=opts.version or registry.next_version("style", opts.name),
        architecture=arch, classes=encode_style_classes(COLOUR_NAMES, PATTERNS),
        training=training, metrics=evaluation.metrics(),
    )
    return registry.save(manifest, model.state_dict(), half=opts.half)


def train_style(opts: StyleTrainOptions) -> ModelManifest | None:
    """Train (or resume) a StyleNet run, write its plots, and register the weights.

    Returns the registered manifest, or None on ranks other than 0 of a torchrun run.
    """
    with distributed_session(opts.device) as dist:
        return _train_style(opts, dist)


def _train_style(opts: StyleTrainOptions, dist: Distributed) -> ModelManifest | None:
    seed_everything(opts.seed)
    if opts.threads > 0:
        torch.set_num_threads(opts.threads)
    device = dist.device
    out_dir = Path(opts.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator()
    train_loader, val_loader = _loaders(opts, generator, dist)
    arch = model_architecture("stylenet_small", num_colours=len(COLOUR_NAMES),
                              num_patterns=len(PATTERNS), width=opts.width,
                              hidden=opts.hidden, dropout=opts.dropout, input_size=opts.input_size,
                              spectrum=opts.spectrum)
    model = build_model(arch).to(device)
    trained = dist.wrap(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    scheduler = _scheduler(opts, optimizer, opts.epochs * len(train_loader))
    criterion = nn.CrossEntropyLoss(label_smoothing=opts.label_smoothing)
    amp = MixedPrecision(opts.amp, device)
    history, start, epoch_seconds = LossHistory(), 0, []
    ckpt = out_dir / CHECKPOINT_FILE
    if opts.resume and ckpt.is_file():
        start, epoch_seconds = _resume(ckpt, model, optimizer, scheduler, history, dist)
    evaluation = None
    for epoch in tqdm(range(start, opts.epochs), desc="style epochs", unit="epoch",
                      initial=start, total=opts.epochs, disable=not dist.is_main):
        generator.manual_seed(opts.seed * 1000 + epoch)
        torch.manual_seed(dist.rank_seed(opts.seed * 1000 + epoch + 1))
        began = time.perf_counter()
        losses = _train_epoch(trained, train_loader, optimizer, scheduler, criterion, dist, amp,
                              history, f"epoch {epoch + 1}/{opts.epochs}")
        epoch_seconds.append(time.perf_counter() - began)
        if not dist.is_main:
            continue
        evaluation = evaluate_style(model, val_loader, device)
        history.add_epoch({f"train_{k}": v for k, v in losses.items()} | evaluation.metrics())
        tqdm.write(f"epoch {epoch + 1}: loss {losses['loss']:.3f} colour acc "
                   f"{evaluation.colour_acc:.3f} pattern acc {evaluation.pattern_acc:.3f} "
                   f"joint {evaluation.joint_acc:.3f} ({epoch_seconds[-1]:.1f}s)")
        save_checkpoint(ckpt, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                               "scheduler": scheduler.state_dict(), "history": history.state_dict(),
                               "epoch": epoch + 1, "epoch_seconds": epoch_seconds,
                               "options": opts.to_json()})
    if not dist.is_main:
        return None
    if evaluation is None:
        evaluation = evaluate_style(model, val_loader, device)
    plot_loss_curves(history, out_dir / "loss.png", f"StyleNet {opts.name}")
    history.save_json(out_dir / "history.json")
    write_confusion_plots(evaluation, COLOUR_NAMES, PATTERNS, out_dir)
    return _publish(opts, model, arch, evaluation, history, epoch_seconds,
                    len(train_loader.dataset), dist.world_size)


def evaluate_registered(data_root: Path, store_dir: Path, name: str = "stylenet",
                        version: str | None = None, split: str = "validation",
                        out_dir: Path | None = None, device: str = "auto",
                        batch_size: int = 128) -> StyleEvaluation:
    """Score a registered StyleNet on a split; optionally write confusion PNGs to ``out_dir``."""
    registry = ModelRegistry.with_starter_models(LocalFolderStore(store_dir))
    target = select_device(device)
    model, manifest = load_model(registry, f"{name}:{version}" if version else name, target)
    colours, patterns = style_classes(manifest)
    dataset = StyleCropDataset(data_root, split, colours=colours, patterns=patterns, size=model.input_size)
    evaluation = evaluate_style(model, DataLoader(dataset, batch_size=batch_size), target)
    if out_dir is not None:
        write_confusion_plots(evaluation, colours, patterns, out_dir)
    return evaluation
