"""Command line for translation training, mounted as ``fittingroom train translation``.

Every field of :class:`TranslationTrainOptions` becomes one ``--option`` of the
``train`` command (:func:`fittingroom.options.options_command`).
"""

from __future__ import annotations

import typer

from fittingroom.options import options_command
from fittingroom.translation.options import TranslationTrainOptions

app = typer.Typer(help="CycleGAN style-class translation.", no_args_is_help=True)


def _train(opts: TranslationTrainOptions) -> None:
    from fittingroom.translation.train import train_translation

    try:
        opts.validate()
    except (ValueError, FileNotFoundError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    manifest = train_translation(opts)
    if manifest is None:
        return
    typer.echo(
        f"registered translation/{manifest.name}/{manifest.version} "
        f"({manifest.training['steps']} steps, {manifest.training['seconds']} s) in {opts.registry or opts.store_dir}"
    )


train = app.command("train")(options_command(
    TranslationTrainOptions, _train,
    "Train a CycleGAN generator for one style class and register it in the model store."))
