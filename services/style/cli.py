"""``fittingroom train style …`` commands: train a StyleNet, evaluate a registered one."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fittingroom.options import options_command
from fittingroom.style.train import StyleTrainOptions, evaluate_registered, train_style

app = typer.Typer(help="Style classifier (colour × pattern) training and evaluation.",
                  no_args_is_help=True)
_D = StyleTrainOptions()


def _train(opts: StyleTrainOptions) -> None:
    manifest = train_style(opts)
    if manifest is None:
        return
    typer.echo(f"registered {manifest.prefix} in {opts.registry or opts.store_dir}")
    for key, value in sorted(manifest.metrics.items()):
        typer.echo(f"  {key:<18} {value}")


train = app.command("train")(options_command(
    StyleTrainOptions, _train, "Train StyleNet on style crops and register it as models/style/<name>/<version>."))


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
