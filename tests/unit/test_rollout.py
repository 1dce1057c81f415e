"""Model rollouts while serving: references resolved from settings and a ConfigMap folder, new versions
loaded beside the old ones and switched to in one step, a failed load leaving the old ones serving."""

from __future__ import annotations

import pytest
import torch

from fittingroom.errors import ModelIntegrityError
from fittingroom.registry import ModelManifest, ModelRegistry
from fittingroom.serving.metrics import MODEL_INFO, MODEL_ROLLOUT_FAILED, MODEL_ROLLOUTS
from fittingroom.serving.rollout import RETRY_FAILED_POLLS, ModelRollout, read_model_refs, with_model_refs
from fittingroom.serving.stage_base import models_tag
from fittingroom.settings import Settings
from fittingroom.storage import LocalFolderStore
from fittingroom.v1 import common_pb2


class _Handle:
    loaded = None


def _value(metric, *labels) -> float:
    return metric.labels(*labels)._value.get()


def _rollout(tmp_path, resolve, load, service="rollout-test"):
    settings = Settings(store_dir=tmp_path, model_refs_dir=str(tmp_path / "refs"))
    handle = _Handle()
    handle.loaded = "stage v1"
    return ModelRollout(service, settings, handle, {"translation/red-solid": "v1"}, resolve, load), handle


def test_a_refs_folder_overrides_the_settings_it_names_and_ignores_the_rest(tmp_path):
    (tmp_path / "segmentation_model").write_text("maskrcnn-mobilenet:v3\n")
    (tmp_path / "style_model").write_text("")  # an empty key leaves the setting alone
    (tmp_path / "README").write_text("not a model reference")
    assert read_model_refs(tmp_path) == {"segmentation_model": "maskrcnn-mobilenet:v3"}
    settings = with_model_refs(Settings(model_refs_dir=str(tmp_path)))
    assert (settings.segmentation_model, settings.style_model) == ("maskrcnn-mobilenet:v3", "stylenet")
    (tmp_path / "translation_model").write_text("red-solid")  # not '*' or '*:<version>'
    with pytest.raises(ValueError, match="TRANSLATION_MODEL"):
        with_model_refs(Settings(model_refs_dir=str(tmp_path)))


def test_nothing_changes_while_the_references_name_what_is_serving(tmp_path):
    loads = []
    rollout, handle = _rollout(tmp_path, lambda s: {"translation/red-solid": "v1"}, loads.append)
    assert rollout.check() is False
    assert loads == [] and handle.loaded == "stage v1"


def test_a_new_version_is_loaded_then_switched_to_and_exported(tmp_path):
    rollout, handle = _rollout(tmp_path, lambda s: {"translation/red-solid": "v2"}, lambda s: "stage v2",
                               service="switch-test")
    switched = _value(MODEL_ROLLOUTS, "switch-test", "switched")
    assert rollout.check() is True
    assert handle.loaded == "stage v2" and rollout.serving == {"translation/red-solid": "v2"}
    assert _value(MODEL_ROLLOUTS, "switch-test", "switched") == switched + 1
    assert _value(MODEL_INFO, "switch-test", "translation", "red-solid", "v2") == 1
    assert ("switch-test", "translation", "red-solid", "v1") not in MODEL_INFO._metrics
    assert rollout.check() is False  # and it stays there


def test_a_version_that_fails_to_load_leaves_the_old_one_serving_and_raises_the_alarm_until_fixed(tmp_path):
    wanted = {"translation/red-solid": "v2"}

    def load(settings):
        if wanted["translation/red-solid"] == "v2":
            raise ModelIntegrityError("sha256 does not match the manifest")
        return "stage v3"

    rollout, handle = _rollout(tmp_path, lambda s: dict(wanted), load, service="fail-test")
    assert rollout.check() is False
    assert handle.loaded == "stage v1" and rollout.serving == {"translation/red-solid": "v1"}
    assert _value(MODEL_ROLLOUT_FAILED, "fail-test") == 1
    assert _value(MODEL_ROLLOUTS, "fail-test", "failed") == 1
    wanted["translation/red-solid"] = "v3"  # a fixed version is published
    assert rollout.check() is True
    assert handle.loaded == "stage v3" and _value(MODEL_ROLLOUT_FAILED, "fail-test") == 0


def test_an_unreadable_reference_is_a_failed_rollout_not_a_dead_service(tmp_path):
    def resolve(settings):
        raise AssertionError("a bad reference must not reach the registry")

    rollout, handle = _rollout(tmp_path, resolve, lambda s: "never", service="badref-test")
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "translation_model").write_text("not a pattern")
    assert rollout.check() is False
    assert handle.loaded == "stage v1" and _value(MODEL_ROLLOUT_FAILED, "badref-test") == 1


def _manifest(name: str, version: str) -> ModelManifest:
    return ModelManifest(kind="translation", name=name, version=version, architecture={})


def test_one_listing_resolves_every_generator_version(tmp_path):
    registry = ModelRegistry(LocalFolderStore(tmp_path))
    for name, version in (("red-solid", "v1"), ("red-solid", "v10"), ("red-solid", "v9"), ("blue-dots", "v1")):
        registry.save(_manifest(name, version), {"w": torch.zeros(1)})
    listing = registry.all_versions("translation")
    assert listing == {"blue-dots": ["v1"], "red-solid": ["v1", "v9", "v10"]}
    assert registry.resolve_version("translation", "red-solid", None, listing=listing) == "v10"
    assert registry.resolve_version("translation", "red-solid", "v9", listing=listing) == "v9"
    assert registry.names("translation") == ["blue-dots", "red-solid"]


def test_cache_tags_change_with_any_model_version_and_not_with_order():
    a = common_pb2.ModelVersion(kind="segmentation", name="m", version="v1", sha256="1")
    b = common_pb2.ModelVersion(kind="style", name="s", version="v1", sha256="2")
    b2 = common_pb2.ModelVersion(kind="style", name="s", version="v2", sha256="3")
    assert models_tag([a, b]) == models_tag([b, a])
    assert models_tag([a, b]) != models_tag([a, b2]) != models_tag([a])


def test_versions_that_failed_are_tried_again_only_after_a_while(tmp_path):
    attempts = []

    def load(settings):
        attempts.append(1)
        raise ModelIntegrityError("corrupt")

    rollout, handle = _rollout(tmp_path, lambda s: {"translation/red-solid": "v2"}, load, service="retry-test")
    for _ in range(RETRY_FAILED_POLLS + 1):
        assert rollout.check() is False
    assert len(attempts) == 1 and _value(MODEL_ROLLOUT_FAILED, "retry-test") == 1
    assert rollout.check() is False
    assert len(attempts) == 2 and handle.loaded == "stage v1"


def test_unreachable_storage_is_not_a_failed_rollout(tmp_path):
    from fittingroom.errors import StorageUnavailableError

    outage = {"on": True}

    def resolve(settings):
        if outage["on"]:
            raise StorageUnavailableError("minio: list models/: gave up after 30 s")
        return {"translation/red-solid": "v2"}

    rollout, handle = _rollout(tmp_path, resolve, lambda s: "stage v2", service="outage-test")
    assert rollout.check() is False
    assert _value(MODEL_ROLLOUT_FAILED, "outage-test") == 0 and _value(MODEL_ROLLOUTS, "outage-test", "failed") == 0
    outage["on"] = False
    assert rollout.check() is True and handle.loaded == "stage v2"
