"""Command line for translation training; the lead mounts ``app`` as ``fittingroom train translation``.

Every field of :class:`TranslationTrainOptions` becomes one ``--option`` of the
``train`` command, with the field's help text, so the options dataclass stays the
single list of knobs.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any, Callable

import typer

from fittingroom.translation.options import TranslationTrainOptions

app = typer.Typer(help="CycleGAN style-class translation.", no_args_is_help=True)


def _cli_parameters() -> list[inspect.Parameter]:
    """One keyword parameter per options field, defaulting to a typer.Option with its help."""
    hints = typing.get_type_hints(TranslationTrainOptions)
    params = []
    for f in dataclasses.fields(TranslationTrainOptions):
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        if hints[f.name] is bool:
            flag = f"{flag}/--no-{flag[2:]}"
        default = ... if f.metadata.get("required") else f.default
        option = typer.Option(default, flag, help=f.metadata.get("help", ""), show_default=not f.metadata.get("required"))
        annotation = hints[f.name]
        if f.metadata.get("required"):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation))
    return params


def _with_option_signature(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``func(**kwargs)`` the options dataclass's fields as its visible signature."""
    params = _cli_parameters()
    func.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    func.__annotations__ = {p.name: p.annotation for p in params}
    return func


@app.command("train")
@_with_option_signature
def train(**kwargs: Any) -> None:
    """Train a CycleGAN generator for one style class and register it in the model store."""
    from fittingroom.translation.train import train_translation

    opts = TranslationTrainOptions(**kwargs)
    try:
        opts.validate()
    except (ValueError, FileNotFoundError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    manifest = train_translation(opts)
    typer.echo(
        f"registered translation/{manifest.name}/{manifest.version} "
        f"({manifest.training['steps']} steps, {manifest.training['seconds']} s) in {opts.store_dir}"
    )
