"""``fittingroom train segmentation`` / ``fittingroom evaluate segmentation`` commands."""

from __future__ import annotations

from typing import Optional

import typer

from fittingroom.options import options_command
from fittingroom.segmentation.options import SegmentationTrainOptions

app = typer.Typer(help="Garment Mask R-CNN training and evaluation.", no_args_is_help=True)
_D = SegmentationTrainOptions()


def _train(opts: SegmentationTrainOptions) -> None:
    from fittingroom.segmentation.train import train_segmentation

    manifest = train_segmentation(opts)
    if manifest is None:
        return
    typer.echo(f"registered {manifest.prefix} in {opts.registry or opts.store_dir}")
    for key, value in sorted(manifest.metrics.items()):
        typer.echo(f"  {key:<22} {value}")


train = app.command("train")(options_command(
    SegmentationTrainOptions, _train, "Train Mask R-CNN and register it as models/segmentation/<name>/<version>."))


@app.command()
def evaluate(
    data_root: str = typer.Option(str(_D.data_root), help="DeepFashion2-format folder."),
    name: str = typer.Option(_D.name, help="Registry model name."),
    version: Optional[str] = typer.Option(None, help="Registry version (default: latest)."),
    store_dir: str = typer.Option(str(_D.store_dir), help="Model registry folder."),
    split: str = typer.Option("validation"),
    max_images: int = typer.Option(0, min=0, help="Evaluate the first N (0: all)."),
    polygon_source: str = typer.Option(_D.polygon_source, help="Mask polygons: segmentation or landmarks."),
    device: str = typer.Option("auto"),
) -> None:
    """Print a registered model's COCO box and mask AP on a split."""
    from fittingroom.segmentation.evaluate import evaluate_registered

    metrics = evaluate_registered(data_root, store_dir, name, version, split, max_images,
                                  polygon_source, device)
    for key, value in metrics.items():
        typer.echo(f"  {key:<10} {value:.4f}")
