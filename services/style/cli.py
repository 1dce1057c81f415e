"""``fittingroom train style …`` commands: train a StyleNet, evaluate a registered one."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fittingroom.style.train import StyleTrainOptions, evaluate_registered, train_style

app = typer.Typer(help="Style classifier (colour × pattern) training and evaluation.",
                  no_args_is_help=True)
_D = StyleTrainOptions()


@app.command()
def train(
    data_root: Path = typer.Option(_D.data_root, help="Folder containing styles/{train,validation}/."),
    out_dir: Path = typer.Option(_D.out_dir, help="Checkpoint, loss curve and confusion PNGs."),
    store_dir: Path = typer.Option(_D.store_dir, help="Model registry folder to publish to."),
    epochs: int = typer.Option(_D.epochs, min=1),
    batch_size: int = typer.Option(_D.batch_size, min=1),
    lr: float = typer.Option(_D.lr, help="Peak AdamW learning rate."),
    weight_decay: float = typer.Option(_D.weight_decay),
    schedule: str = typer.Option(_D.schedule, help="cosine (per-step decay to 0) or constant."),
    width: int = typer.Option(_D.width, min=4, help="Trunk width (channels of the first stage)."),
    input_size: int = typer.Option(_D.input_size, min=32, help="Side of the square garment crop the network reads."),
    spectrum: bool = typer.Option(_D.spectrum, help="Feed the garment's masked power spectrum (scale × orientation) to the heads."),
    hidden: int = typer.Option(_D.hidden, min=1, help="Hidden units in each head."),
    dropout: float = typer.Option(_D.dropout, min=0.0, max=0.9),
    jitter: float = typer.Option(_D.jitter, min=0.0, max=0.5, help="Shading/brightness jitter."),
    scale_min: float = typer.Option(_D.scale_min, min=0.3, max=1.0, help="Smallest random rescale."),
    label_smoothing: float = typer.Option(_D.label_smoothing, min=0.0, max=0.5),
    device: str = typer.Option(_D.device, help="auto, cpu, cuda, cuda:1 …"),
    threads: int = typer.Option(_D.threads, min=0,
                                help="CPU threads for torch (0 = torch's default; 1 is fastest on a busy machine)."),
    seed: int = typer.Option(_D.seed),
    num_workers: int = typer.Option(_D.num_workers, min=0, help="DataLoader worker processes."),
    resume: bool = typer.Option(_D.resume, help="Continue from out_dir/checkpoint.pt if present."),
    name: str = typer.Option(_D.name, help="Registry model name."),
    version: Optional[str] = typer.Option(_D.version, help="Registry version (default: next vN)."),
    half: bool = typer.Option(_D.half, help="Store weights as float16."),
) -> None:
    """Train StyleNet on style crops and register it as models/style/<name>/<version>."""
    opts = StyleTrainOptions(**locals())
    manifest = train_style(opts)
    typer.echo(f"registered {manifest.prefix} in {store_dir}")
    for key, value in sorted(manifest.metrics.items()):
        typer.echo(f"  {key:<18} {value}")


@app.command()
def evaluate(
    data_root: Path = typer.Option(_D.data_root, help="Folder containing styles/<split>/."),
    store_dir: Path = typer.Option(_D.store_dir, help="Model registry folder."),
    name: str = typer.Option(_D.name),
    version: Optional[str] = typer.Option(None, help="Default: latest."),
    split: str = typer.Option("validation"),
    out_dir: Optional[Path] = typer.Option(None, help="Write confusion PNGs here."),
    device: str = typer.Option("auto"),
    batch_size: int = typer.Option(128, min=1),
) -> None:
    """Print a registered StyleNet's colour, pattern and joint accuracy on a split."""
    result = evaluate_registered(data_root, store_dir, name, version, split, out_dir, device, batch_size)
    typer.echo(f"{split}: {result.count} crops")
    typer.echo(f"  colour acc   {result.colour_acc:.4f}")
    typer.echo(f"  pattern acc  {result.pattern_acc:.4f}")
    typer.echo(f"  joint acc    {result.joint_acc:.4f}")
