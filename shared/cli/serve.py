"""``fittingroom-serve <service>``: run one service's gRPC server and Kafka worker.

The lean entry point that images and ``make up`` start: it imports only this
module and the service's own, so a service that runs no model (gateway,
compositing) never loads torch, which the full ``fittingroom`` CLI imports for
its training commands. ``fittingroom serve`` replaces its own process with this
one (:func:`relaunch_lean`) for the same reason.
"""

from __future__ import annotations

import importlib
import os
import sys
from enum import Enum
from typing import Optional

import typer

from fittingroom.cli.errors import cli_errors
from fittingroom.settings import Settings


class ServiceName(str, Enum):
    gateway = "gateway"
    segmentation = "segmentation"
    style = "style"
    translation = "translation"
    compositing = "compositing"


def serve(
    service: ServiceName = typer.Argument(..., help="Which service to run."),
    grpc: Optional[bool] = typer.Option(None, "--grpc/--no-grpc", help="Run the gRPC server (FITTINGROOM_ENABLE_GRPC)."),
    worker: Optional[bool] = typer.Option(None, "--worker/--no-worker", help="Run the Kafka worker (FITTINGROOM_ENABLE_WORKER)."),
    port: Optional[int] = typer.Option(None, help="gRPC port (FITTINGROOM_GRPC_PORT)."),
    metrics_port: Optional[int] = typer.Option(None, help="Prometheus port (FITTINGROOM_METRICS_PORT)."),
) -> None:
    """Serve until SIGTERM; settings come from FITTINGROOM_* variables."""
    with cli_errors():
        settings = Settings.from_env(enable_grpc=grpc, enable_worker=worker, grpc_port=port, metrics_port=metrics_port)
        module = importlib.import_module(f"fittingroom.{service.value}.service")
        from fittingroom.serving.runner import run_service

        code = run_service(module.DEFINITION, settings)
    if code:
        raise typer.Exit(code)


def relaunch_lean(ctx: typer.Context) -> None:
    """``fittingroom serve …``: become ``fittingroom-serve …`` with the same arguments.

    The full CLI has imported torch by the time it parses a command (README:
    Process memory); exec gives the service a fresh interpreter with the same pid, so a
    gateway or compositing started this way stays as lean as through the entry point.
    """
    os.execv(sys.executable, [sys.executable, "-m", __name__, *ctx.args])


RELAUNCH_SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True}

serve_app = typer.Typer(add_completion=False, help="Run one Fittingroom service until SIGTERM.")
serve_app.command()(serve)


def main() -> None:
    """``fittingroom-serve``: :func:`serve` as its own command."""
    serve_app(prog_name="fittingroom-serve")


if __name__ == "__main__":
    main()
