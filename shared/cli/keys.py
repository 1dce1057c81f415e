"""``fittingroom keys``: make and revoke shop API keys in the gateway's key file (hashes only)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from fittingroom.apikeys import add_key, revoke_tenant
from fittingroom.cli.errors import cli_errors

app = typer.Typer(help="Shop API keys: the gateway's FITTINGROOM_API_KEYS_FILE.", no_args_is_help=True)


@app.command("add")
def add(
    tenant: str = typer.Argument(..., help="Shop name: 1-63 of a-z, 0-9 and '-'."),
    file: Path = typer.Option(..., "--file", help="The key file (created with mode 600 if missing)."),
) -> None:
    """Make a key for TENANT and print it once: only its sha256 is stored."""
    with cli_errors():
        key = add_key(file, tenant)
        print(key)
        print(f"added a key for {tenant} to {file}; it is shown only now", file=sys.stderr)


@app.command("revoke")
def revoke(
    tenant: str = typer.Argument(..., help="Shop whose keys are revoked."),
    file: Path = typer.Option(..., "--file", help="The key file."),
) -> None:
    """Remove every key of TENANT; running gateways stop accepting them at their next call."""
    with cli_errors():
        removed = revoke_tenant(file, tenant)
        print(f"revoked {removed} key(s) of {tenant} in {file}")
        if not removed:
            raise typer.Exit(1)
