"""The ``fittingroom`` command: try-on, data, training, registry and benchmarks."""

from __future__ import annotations

import typer

from fittingroom.cli import kafka as kafka_cli
from fittingroom.cli import keys as keys_cli
from fittingroom.cli import models as models_cli
from fittingroom.cli.serve import RELAUNCH_SETTINGS, relaunch_lean
from fittingroom.cli.tryon import tryon

app = typer.Typer(
    help="Fittingroom: dress a shopper's photo in a product's colour and pattern.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(tryon)
app.command("serve", context_settings=RELAUNCH_SETTINGS, add_help_option=False,
            help="Run one service until SIGTERM: fittingroom-serve with the same arguments (see --help).")(relaunch_lean)
app.add_typer(models_cli.app, name="models")
app.add_typer(keys_cli.app, name="keys")
app.add_typer(kafka_cli.app, name="kafka")

train_app = typer.Typer(help="Train a model on DeepFashion2-format data and register it.", no_args_is_help=True)
evaluate_app = typer.Typer(help="Evaluate a registered model on a validation split, or the whole try-on on photo pairs.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(evaluate_app, name="evaluate")


def _mount_services() -> None:
    from fittingroom.data.cli import app as data_app
    from fittingroom.segmentation import cli as segmentation_cli
    from fittingroom.style import cli as style_cli
    from fittingroom.translation import cli as translation_cli

    app.add_typer(data_app, name="data", help="Synthetic DeepFashion2 data and format conversion.")
    train_app.command("segmentation")(segmentation_cli.train)
    train_app.command("style")(style_cli.train)
    train_app.command("translation")(translation_cli.train)
    evaluate_app.command("segmentation")(segmentation_cli.evaluate)
    evaluate_app.command("style")(style_cli.evaluate)


def _mount_tools() -> None:
    from fittingroom.cli.bench import stages
    from fittingroom.cli.bench_batching import batching
    from fittingroom.cli.bench_curve import curve
    from fittingroom.cli.bench_distributed import distributed
    from fittingroom.cli.bench_hop import hop
    from fittingroom.cli.bench_memory import memory
    from fittingroom.cli.bench_security import security
    from fittingroom.cli.chaos import chaos
    from fittingroom.cli.client import app as client_app
    from fittingroom.cli.dashboard import app as dashboard_app
    from fittingroom.cli.evaluate_tryon import evaluate_tryon
    from fittingroom.cli.observe import app as observe_app
    from fittingroom.cli.starter import build_starter

    bench_app = typer.Typer(help="Benchmarks: print tables, write plots.", no_args_is_help=True)
    bench_app.command("stages")(stages)
    bench_app.command("distributed")(distributed)
    bench_app.command("hop")(hop)
    bench_app.command("security")(security)
    bench_app.command("memory")(memory)
    bench_app.command("batching")(batching)
    bench_app.command("curve")(curve)
    app.add_typer(bench_app, name="bench")
    app.add_typer(client_app, name="client")
    app.add_typer(observe_app, name="observe")
    app.add_typer(dashboard_app, name="dashboard")
    app.command()(chaos)
    models_cli.app.command("build-starter")(build_starter)
    evaluate_app.command("tryon")(evaluate_tryon)


_mount_services()
_mount_tools()

if __name__ == "__main__":
    app()
