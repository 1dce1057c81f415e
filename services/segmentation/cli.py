"""``fittingroom train segmentation`` / ``fittingroom evaluate segmentation`` commands."""

from __future__ import annotations

from typing import Optional

import typer

from fittingroom.segmentation.options import SegmentationTrainOptions

app = typer.Typer(help="Garment Mask R-CNN training and evaluation.", no_args_is_help=True)
_D = SegmentationTrainOptions()


@app.command()
def train(
    data_root: str = typer.Option(_D.data_root, help="DeepFashion2-format folder with train/ and validation/."),
    out_dir: str = typer.Option(_D.out_dir, help="Checkpoint, loss history and loss-curve PNG."),
    backbone: str = typer.Option(_D.backbone, help="Builder: maskrcnn_mobilenet_v3_large_fpn (CPU) or "
                                                   "maskrcnn_resnet50_fpn_v2 (GPU)."),
    min_size: int = typer.Option(_D.min_size, min=0, help="Shorter side after resizing (0: builder default)."),
    max_size: int = typer.Option(_D.max_size, min=0, help="Longer-side limit after resizing (0: builder default)."),
    anchor_sizes: str = typer.Option(_D.anchor_sizes, help="Comma-separated anchor size per FPN level, e.g. 48,96,192,384 (empty: builder default); scale them with --min-size."),
    polygon_source: str = typer.Option(_D.polygon_source, help="Mask polygons: segmentation or landmarks."),
    epochs: int = typer.Option(_D.epochs, min=1),
    batch_size: int = typer.Option(_D.batch_size, min=1),
    lr: float = typer.Option(_D.lr, help="Peak SGD learning rate."),
    momentum: float = typer.Option(_D.momentum),
    weight_decay: float = typer.Option(_D.weight_decay),
    lr_schedule: str = typer.Option(_D.lr_schedule, help="cosine (per-step to 0) or step."),
    warmup_iters: int = typer.Option(_D.warmup_iters, min=0, help="Linear warmup steps."),
    lr_step_epochs: int = typer.Option(_D.lr_step_epochs, min=1, help="step schedule: epochs per decay."),
    lr_gamma: float = typer.Option(_D.lr_gamma, help="step schedule: decay factor."),
    grad_clip: float = typer.Option(_D.grad_clip, min=0.0, help="Max gradient norm (0: off)."),
    hflip: bool = typer.Option(_D.hflip, help="Random horizontal flips."),
    max_zoom: float = typer.Option(_D.max_zoom, min=1.0, help="Half the samples are a random 1/zoom window scaled up, zoom up to this (1 = off): garments at several scales."),
    num_workers: int = typer.Option(_D.num_workers, min=0, help="DataLoader worker processes."),
    num_threads: int = typer.Option(_D.num_threads, min=0, help="torch CPU threads (0: torch default); 1 avoids "
                                                              "oversubscription on a busy machine."),
    max_train_images: int = typer.Option(_D.max_train_images, min=0, help="Use the first N (0: all)."),
    max_val_images: int = typer.Option(_D.max_val_images, min=0, help="Evaluate the first N (0: all)."),
    device: str = typer.Option(_D.device, help="auto, cpu, cuda, cuda:1 …"),
    seed: int = typer.Option(_D.seed),
    resume: str = typer.Option(_D.resume, help="Checkpoint to continue from (e.g. <out_dir>/checkpoint.pt)."),
    store_dir: str = typer.Option(_D.store_dir, help="Model registry folder to publish to."),
    model_name: str = typer.Option(_D.model_name, help="Registry model name."),
    version: str = typer.Option(_D.version, help="Registry version."),
    half: bool = typer.Option(_D.half, help="Store weights as float16."),
) -> None:
    """Train Mask R-CNN and register it as models/segmentation/<name>/<version>."""
    opts = SegmentationTrainOptions(**locals())
    from fittingroom.segmentation.train import train_segmentation

    manifest = train_segmentation(opts)
    typer.echo(f"registered {manifest.prefix} in {store_dir}")
    for key, value in sorted(manifest.metrics.items()):
        typer.echo(f"  {key:<22} {value}")


@app.command()
def evaluate(
    data_root: str = typer.Option(_D.data_root, help="DeepFashion2-format folder."),
    model_name: str = typer.Option(_D.model_name, help="Registry model name."),
    version: Optional[str] = typer.Option(None, help="Registry version (default: latest)."),
    store_dir: str = typer.Option(_D.store_dir, help="Model registry folder."),
    split: str = typer.Option("validation"),
    max_images: int = typer.Option(0, min=0, help="Evaluate the first N (0: all)."),
    polygon_source: str = typer.Option(_D.polygon_source, help="Mask polygons: segmentation or landmarks."),
    device: str = typer.Option("auto"),
) -> None:
    """Print a registered model's COCO box and mask AP on a split."""
    from fittingroom.segmentation.evaluate import evaluate_registered

    metrics = evaluate_registered(data_root, store_dir, model_name, version, split, max_images,
                                  polygon_source, device)
    for key, value in metrics.items():
        typer.echo(f"  {key:<10} {value:.4f}")
