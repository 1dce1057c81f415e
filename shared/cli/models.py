"""``fittingroom models``: list, push and pull registry entries between stores."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fittingroom.cli.errors import cli_errors
from fittingroom.registry import KINDS, STARTER_STORE_DIR, ModelRegistry
from fittingroom.settings import Settings
from fittingroom.storage import LocalFolderStore, ObjectStore

app = typer.Typer(help="Model registry: weights (safetensors) + manifests in the object store.", no_args_is_help=True)


def _target(store: Optional[Path]) -> ObjectStore:
    """The serving store: MinIO's models bucket when FITTINGROOM_S3_ENDPOINT is set, else the local folder."""
    settings = Settings.from_env(store_dir=store)
    if settings.s3_endpoint and store is None:
        from fittingroom.serving.stores import bucket_store

        return bucket_store(settings, settings.models_bucket)
    return LocalFolderStore(settings.store_dir)


def _registry(store: Optional[Path]) -> ModelRegistry:
    return ModelRegistry(_target(store), LocalFolderStore(STARTER_STORE_DIR, read_only=True))


@app.command("list")
def list_models(
    kind: Optional[str] = typer.Option(None, help=f"One of {', '.join(KINDS)}."),
    store: Optional[Path] = typer.Option(None, help="Store folder (default FITTINGROOM_STORE_DIR)."),
) -> None:
    """Every model version the store (and the bundled starter models) hold."""
    with cli_errors():
        registry = _registry(store)
        rows = registry.manifests(kind)
        if not rows:
            print("no models")
        for m in rows:
            metrics = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(m.metrics.items())[:4])
            print(f"{m.kind:<12} {m.name:<22} {m.version:<10} {m.architecture.get('builder', '?'):<34} {m.dtype:<8} {metrics}")


def _copy(kind: str, name: str, version: Optional[str], source: ModelRegistry, target: ObjectStore) -> None:
    manifest = source.copy_to(target, kind, name, version)
    print(f"copied {manifest.prefix} (sha256 {manifest.sha256[:12]}…) to {target.describe()}")


@app.command()
def push(
    kind: str = typer.Argument(..., help=f"One of {', '.join(KINDS)}."),
    name: str = typer.Argument(..., help="Model name, e.g. maskrcnn-mobilenet or red-stripes."),
    source: Path = typer.Option(..., "--from", help="Store folder a training run wrote to."),
    version: Optional[str] = typer.Option(None, help="Version (default: latest)."),
    store: Optional[Path] = typer.Option(None, help="Target folder (default: MinIO if FITTINGROOM_S3_ENDPOINT is set, else FITTINGROOM_STORE_DIR)."),
) -> None:
    """Register a trained model version in the serving store (MinIO or local)."""
    with cli_errors():
        target = _target(store)
        registry = ModelRegistry(LocalFolderStore(source, read_only=True))
        registry.load(kind, name, version)
        _copy(kind, name, version, registry, target)


@app.command()
def pull(
    kind: str = typer.Argument(..., help=f"One of {', '.join(KINDS)}."),
    name: str = typer.Argument(..., help="Model name."),
    to: Path = typer.Option(..., "--to", help="Folder to copy the model version into."),
    version: Optional[str] = typer.Option(None, help="Version (default: latest)."),
    store: Optional[Path] = typer.Option(None, help="Source store (default FITTINGROOM_STORE_DIR)."),
) -> None:
    """Copy a model version out of the serving store (checked against its sha256)."""
    with cli_errors():
        registry = _registry(store)
        registry.load(kind, name, version)
        _copy(kind, name, version, registry, LocalFolderStore(to))


@app.command()
def seed(
    store: Optional[Path] = typer.Option(None, help="Target folder (default: MinIO if FITTINGROOM_S3_ENDPOINT is set, else FITTINGROOM_STORE_DIR)."),
) -> None:
    """Copy every bundled starter model the serving store lacks into it."""
    with cli_errors():
        target = _target(store)
        starter = ModelRegistry(LocalFolderStore(STARTER_STORE_DIR, read_only=True))
        existing = ModelRegistry(target)
        for manifest in starter.manifests():
            if manifest.version in existing.versions(manifest.kind, manifest.name):
                continue
            _copy(manifest.kind, manifest.name, manifest.version, starter, target)
