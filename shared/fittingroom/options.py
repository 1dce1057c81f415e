"""Training options as data: one dataclass per trainer, each field one CLI option.

Every trainer's options class derives from :class:`TrainOptions`, so the knobs
all three share have the same names, defaults and help (``threads``, ``device``,
``store_dir``, ``version`` …). Fields carry their help in metadata
(:func:`option`), and :func:`options_command` turns any such class into a typer
command whose ``--flags`` are exactly its fields: the dataclass stays the single
list of knobs, in the manifest and on the command line alike.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import typer

if TYPE_CHECKING:
    from fittingroom.registry import ModelRegistry

O = TypeVar("O", bound="TrainOptions")


def option(default: Any, help: str = "", flag: str | None = None, required: bool = False) -> Any:
    """A dataclass field carrying its CLI help, an optional flag name, and whether the CLI requires it."""
    return field(default=default, metadata={"help": help, "flag": flag, "required": required})


@dataclass
class TrainOptions:
    """The knobs every trainer shares."""

    out_dir: Path = option(Path("var/runs"), "Run folder: checkpoint, loss curves and other PNGs.")
    store_dir: Path = option(Path("var/models"), "Model registry folder the model is registered in.")
    registry: str = option("", "Register in this MinIO/S3 bucket instead of --store-dir: s3://<bucket> (endpoint "
                           "and keys from FITTINGROOM_S3_*; the next version is counted there). Kubernetes "
                           "training jobs register this way, so nodes need no shared folder.")
    device: str = option("auto", "Torch device: auto, cpu, cuda, cuda:1 …")
    threads: int = option(0, "torch CPU threads (0: torch's default; 1 avoids oversubscription on a busy machine).")
    num_workers: int = option(0, "DataLoader worker processes.")
    seed: int = option(0, "Random seed.")
    version: str | None = option(None, "Registry version (default: the next vN).")
    half: bool = option(True, "Store the weights as float16.")
    amp: str = option("off", "Mixed precision: off, bf16 or fp16 (autocast; fp16 with a gradient scaler).")

    def to_json(self) -> dict[str, Any]:
        """The options as JSON-safe values (paths as strings), for checkpoints and the manifest."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}

    def open_registry(self) -> "ModelRegistry":
        """Where the trained model is registered: the ``--registry`` bucket, else the ``--store-dir`` folder."""
        from fittingroom.registry import ModelRegistry
        from fittingroom.storage import LocalFolderStore

        if not self.registry:
            return ModelRegistry(LocalFolderStore(self.store_dir))
        from fittingroom.s3store import store_at

        store, prefix = store_at(self.registry)
        if prefix:
            raise ValueError(f"--registry {self.registry}: expected s3://<bucket> (the registry is a whole bucket)")
        return ModelRegistry(store)


def _cli_parameters(options_type: type[TrainOptions]) -> list[inspect.Parameter]:
    """One keyword parameter per options field, defaulting to a typer.Option with its help."""
    hints = typing.get_type_hints(options_type)
    params = []
    for f in dataclasses.fields(options_type):
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        if hints[f.name] is bool:
            flag = f"{flag}/--no-{flag[2:]}"
        required = f.metadata.get("required", False)
        default = ... if required else f.default
        help_text = f.metadata.get("help", "")
        cli_option = typer.Option(default, flag, help=help_text, show_default=not required)
        annotation = hints[f.name]
        if required:
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=cli_option,
                                        annotation=annotation))
    return params


def options_command(options_type: type[O], run: Callable[[O], None], doc: str) -> Callable[..., None]:
    """A typer command taking every field of ``options_type`` as an option and calling ``run`` with them."""

    def command(**kwargs: Any) -> None:
        run(options_type(**kwargs))

    params = _cli_parameters(options_type)
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = doc
    return command
