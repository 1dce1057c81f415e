"""Training images/s of the seed-size models on one device, through the trainers' own step code.

Mask R-CNN (ResNet-50-FPN v2) takes SGD steps on synthetic DeepFashion2 photos via
:func:`fittingroom.segmentation.train.train_step`; the 9-block, 64-wide CycleGAN
trains G_A/G_B/D_A/D_B on 256×256 pairs via :meth:`CycleGANModel.train_step` (pixel
content does not change its cost, so the pairs are random). Each measurement warms
up for two steps, then counts images for ``seconds``; it is written for the lent
GPU (``shared/infra/device-bench.sh run``, with the inference benchmark) and runs on a CPU too, slowly.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
import typer

from fittingroom.training import select_device


def _images_per_second(step: Callable[[], None], images_per_step: int, seconds: float, device: torch.device) -> float:
    for _ in range(2):
        step()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    began, steps = time.perf_counter(), 0
    while time.perf_counter() - began < seconds:
        step()
        steps += 1
    sync()
    return steps * images_per_step / (time.perf_counter() - began)


def _segmentation_step(device: torch.device, batch: int, data: Path) -> Callable[[], None]:
    from fittingroom.data.synth import generate_dataset
    from fittingroom.segmentation.dataset import SegmentationDataset, collate
    from fittingroom.segmentation.options import SegmentationTrainOptions
    from fittingroom.segmentation.train import build_state, train_step

    generate_dataset(data, max(batch, 8), seed=0, cyclegan_per_class=0, progress=False)
    samples = SegmentationDataset.from_split(data, "train", batch)
    images, targets = collate([samples[i % len(samples)] for i in range(batch)])
    images = [image.to(device) for image in images]
    targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
    opts = SegmentationTrainOptions(backbone="maskrcnn_resnet50_fpn_v2", batch_size=batch, warmup_iters=0)
    state = build_state(opts, 1000, device)
    state.model.train()

    def step() -> None:
        train_step(state, images, targets, opts.grad_clip)

    return step


def _translation_step(device: torch.device, batch: int) -> Callable[[], None]:
    from fittingroom.translation.model import CycleGANModel
    from fittingroom.translation.options import TranslationTrainOptions

    opts = TranslationTrainOptions(generator="resnet_generator_9blocks", batch_size=batch, style_class="red-solid")
    model = CycleGANModel(opts, device)
    real_a, real_b = (torch.rand(batch, 3, 256, 256, device=device) * 2 - 1 for _ in range(2))
    steps = iter(range(1, 10**9))

    def step() -> None:
        model.train_step(real_a, real_b, next(steps))

    return step


def training(
    device: str = typer.Option("auto", help="Torch device."),
    seg_batch: int = typer.Option(4, help="Mask R-CNN images per step."),
    gan_batch: int = typer.Option(1, help="CycleGAN pairs per step (the recipe's 1)."),
    seconds: float = typer.Option(20.0, help="Measured seconds per model."),
    out_dir: Path = typer.Option(Path("out/bench"), help="Writes training_throughput.json here."),
) -> None:
    """Print and write the seed-size models' training images/s on one device."""
    target = select_device(device)
    with tempfile.TemporaryDirectory() as data:
        rows = {
            "maskrcnn_resnet50_fpn_v2": (_segmentation_step(target, seg_batch, Path(data)), seg_batch),
            "cyclegan resnet_generator_9blocks 256px": (_translation_step(target, gan_batch), gan_batch),
        }
        result = {name: round(_images_per_second(step, n, seconds, target), 2) for name, (step, n) in rows.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "training_throughput.json").write_text(json.dumps({"device": str(target), "images_per_s": result}))
    for name, rate in result.items():
        typer.echo(f"{name:<42} {rate:8.2f} images/s  ({target})")
