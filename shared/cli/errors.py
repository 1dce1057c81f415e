"""How the command line reports a typed error: one line on stderr, a non-zero exit."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

import typer

from fittingroom.errors import FittingroomError
from fittingroom.errors import MonitoringError
from fittingroom.errors import SettingsError

EXIT_REJECTED = 1


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn typed errors into ``error: <code>: <message>`` and exit status 1."""
    try:
        yield
    except FittingroomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_REJECTED) from None
    except SettingsError as exc:
        print(f"error: settings: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_REJECTED) from None
    except MonitoringError as exc:
        print(f"error: monitoring: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_REJECTED) from None
