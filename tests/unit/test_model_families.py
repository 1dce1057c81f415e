"""The three model families share one convention: BUILDERS, model_architecture, build_model, load_model."""

import importlib

import pytest

from fittingroom.errors import SettingsError
from fittingroom.settings import Settings
from fittingroom.translation.networks import generator_ref

FAMILIES = {"segmentation": "fittingroom.segmentation.model", "style": "fittingroom.style.model",
            "translation": "fittingroom.translation.networks"}


@pytest.mark.parametrize("kind, module", FAMILIES.items())
def test_every_family_has_the_same_names(kind, module):
    family = importlib.import_module(module)
    assert family.KIND == kind
    assert family.BUILDERS and all(callable(b) for b in family.BUILDERS.values())
    for name in ("model_architecture", "build_model", "load_model"):
        assert callable(getattr(family, name)), f"{module}.{name}"
    builder = next(iter(family.BUILDERS))
    assert family.model_architecture(builder)["builder"] == builder
    with pytest.raises(ValueError, match=f"unknown {kind} builder"):
        family.build_model({"builder": "nope", "kwargs": {}})


def test_translation_models_use_the_same_reference_syntax():
    assert generator_ref("*", "red-solid") == "red-solid"
    assert generator_ref("*:v2", "red-solid") == "red-solid:v2"
    assert Settings(translation_model="*:v2").translation_model == "*:v2"
    with pytest.raises(SettingsError, match="TRANSLATION_MODEL"):
        Settings(translation_model="red-solid").validate()


def test_trainers_share_one_options_base_and_their_clis_are_their_fields():
    import dataclasses
    import inspect

    from fittingroom.options import TrainOptions
    from fittingroom.segmentation import cli as segmentation_cli
    from fittingroom.segmentation.options import SegmentationTrainOptions
    from fittingroom.style import cli as style_cli
    from fittingroom.style.train import StyleTrainOptions
    from fittingroom.translation import cli as translation_cli
    from fittingroom.translation.options import TranslationTrainOptions

    shared = {f.name for f in dataclasses.fields(TrainOptions)}
    for options, cli in ((SegmentationTrainOptions, segmentation_cli), (StyleTrainOptions, style_cli),
                         (TranslationTrainOptions, translation_cli)):
        assert issubclass(options, TrainOptions)
        fields = {f.name for f in dataclasses.fields(options)}
        assert shared <= fields
        assert set(inspect.signature(cli.train).parameters) == fields
        assert all(f.metadata.get("help") for f in dataclasses.fields(options)), options.__name__


def test_the_device_is_carried_not_rediscovered():
    """Loaders place a model on the device decided once; stage functions take it as an argument."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = [str(path.relative_to(root)) for folder in ("services", "shared")
                 for path in (root / folder).rglob("*.py") if "parameters()).device" in path.read_text()]
    assert not offenders
