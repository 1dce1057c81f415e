"""The bundled starter models: every style the classifier can name can be tried on."""

from fittingroom.registry import STARTER_STORE_DIR, ModelRegistry
from fittingroom.storage import LocalFolderStore
from fittingroom.style.stage import style_classes
from fittingroom.garments import style_key


def test_every_classifier_class_has_translation_weights():
    registry = ModelRegistry(LocalFolderStore(STARTER_STORE_DIR))
    colours, patterns = style_classes(registry.manifest("style", "stylenet"))
    have = set(registry.names("translation"))
    missing = sorted(style_key(c, p) for c in colours for p in patterns if style_key(c, p) not in have)
    assert not missing, f"style classes without translation weights: {missing}"
    assert len(colours) * len(patterns) == 40


def test_every_starter_manifest_records_how_it_was_built():
    registry = ModelRegistry(LocalFolderStore(STARTER_STORE_DIR))
    for manifest in registry.manifests():
        build = manifest.training.get("build")
        assert build, f"{manifest.prefix} has no build record"
        assert build["command"].startswith("fittingroom models build-starter")
        assert build["seed"] == 0 and build["seconds"] > 0 and build["git_commit"]
