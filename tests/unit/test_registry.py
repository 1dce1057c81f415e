"""Model registry: safetensors + manifest, sha256-checked, never unpickled."""

import json

import pytest
import torch

from fittingroom.errors import ModelIntegrityError, ModelNotFoundError
from fittingroom.registry import ModelManifest, ModelRegistry
from fittingroom.storage import LocalFolderStore


def _manifest(version="1"):
    return ModelManifest(
        kind="style", name="stylenet", version=version,
        architecture={"builder": "stylenet_small", "kwargs": {"width": 8}},
        classes=["a", "b"], training={"epochs": 2}, metrics={"acc": 0.5},
    )


def _state():
    torch.manual_seed(0)
    return {"w": torch.randn(4, 3), "b": torch.randn(4), "steps": torch.tensor([3])}


def test_save_load_round_trip(tmp_path):
    registry = ModelRegistry(LocalFolderStore(tmp_path))
    saved = registry.save(_manifest(), _state())
    state, manifest = registry.load("style", "stylenet")
    assert manifest.sha256 == saved.sha256 and manifest.classes == ["a", "b"]
    for key, value in _state().items():
        assert torch.equal(state[key], value)
    assert (tmp_path / "models/style/stylenet/1/weights.safetensors").is_file()
    assert json.loads((tmp_path / "models/style/stylenet/1/manifest.json").read_text())["architecture"]["builder"] == "stylenet_small"


def test_half_precision_storage_loads_as_float32(tmp_path):
    registry = ModelRegistry(LocalFolderStore(tmp_path))
    registry.save(_manifest(), _state(), half=True)
    state, manifest = registry.load("style", "stylenet")
    assert manifest.dtype == "float16" and state["w"].dtype == torch.float32
    assert torch.allclose(state["w"], _state()["w"], atol=1e-2)
    assert state["steps"].dtype == torch.int64


def test_latest_version_is_the_highest(tmp_path):
    registry = ModelRegistry(LocalFolderStore(tmp_path))
    for version in ("2", "10", "9"):
        registry.save(_manifest(version), _state())
    assert registry.versions("style", "stylenet") == ["2", "9", "10"]
    assert registry.manifest("style", "stylenet").version == "10"


def test_tampered_weights_are_rejected(tmp_path):
    registry = ModelRegistry(LocalFolderStore(tmp_path))
    registry.save(_manifest(), _state())
    path = tmp_path / "models/style/stylenet/1/weights.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        registry.load("style", "stylenet")


def test_pickle_in_place_of_weights_is_never_loaded(tmp_path):
    registry = ModelRegistry(LocalFolderStore(tmp_path))
    registry.save(_manifest(), _state())
    payload = b"\x80\x04cos\nsystem\n(S'echo pwned'\ntR."
    (tmp_path / "models/style/stylenet/1/weights.safetensors").write_bytes(payload)
    manifest_path = tmp_path / "models/style/stylenet/1/manifest.json"
    manifest = json.loads(manifest_path.read_text())
    import hashlib

    manifest["sha256"] = hashlib.sha256(payload).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelIntegrityError, match="unreadable"):
        registry.load("style", "stylenet")


def test_missing_model_and_fallback_store(tmp_path):
    primary = LocalFolderStore(tmp_path / "primary")
    fallback_store = LocalFolderStore(tmp_path / "fallback")
    ModelRegistry(fallback_store).save(_manifest(), _state())
    with pytest.raises(ModelNotFoundError, match="style/stylenet"):
        ModelRegistry(primary).load("style", "stylenet")
    registry = ModelRegistry(primary, fallback=LocalFolderStore(tmp_path / "fallback", read_only=True))
    state, _ = registry.load("style", "stylenet")
    assert "w" in state
    registry.copy_to(primary, "style", "stylenet")
    assert ModelRegistry(primary).load("style", "stylenet")[1].sha256 == registry.manifest("style", "stylenet").sha256


@pytest.mark.parametrize("name", ["../etc", "A B", ""])
def test_invalid_names_are_refused(tmp_path, name):
    registry = ModelRegistry(LocalFolderStore(tmp_path))
    with pytest.raises(ValueError):
        registry.save(ModelManifest(kind="style", name=name or "x", version=name, architecture={}), _state())


def test_versions_with_text_and_numbers_sort_without_error(tmp_path):
    registry = ModelRegistry(LocalFolderStore(tmp_path))
    for version in ("v2", "t1", "v10", "1.2"):
        registry.save(_manifest(version), _state())
    assert registry.versions("style", "stylenet") == ["t1", "1.2", "v2", "v10"]
