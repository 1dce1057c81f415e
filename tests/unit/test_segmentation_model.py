"""Segmentation builders: class count, weight budget, architecture round trip."""

import pytest
import torch

from fittingroom.garments import NUM_CATEGORIES
from fittingroom.registry import ModelManifest, ModelRegistry
from fittingroom.segmentation.model import (
    BUILDERS,
    model_architecture,
    build_model,
    load_model,
    maskrcnn_mobilenet_v3_large_fpn,
    maskrcnn_resnet50_fpn_v2,
    weight_bytes,
)
from fittingroom.storage import LocalFolderStore


def _num_classes(model) -> int:
    return model.roi_heads.box_predictor.cls_score.out_features


def test_slim_model_has_14_classes_and_fits_12_mb_in_fp16():
    model = maskrcnn_mobilenet_v3_large_fpn()
    assert _num_classes(model) == NUM_CATEGORIES + 1
    assert model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == NUM_CATEGORIES + 1
    assert weight_bytes(model, 2) <= 12 * 1024 * 1024
    assert all(p.requires_grad for p in model.parameters())


def test_resnet_builder_is_full_size_with_requested_classes():
    model = maskrcnn_resnet50_fpn_v2(num_classes=5)
    assert _num_classes(model) == 5
    assert weight_bytes(model, 2) > 60 * 1024 * 1024


def test_build_from_architecture_dict_uses_kwargs():
    model = build_model(model_architecture("maskrcnn_mobilenet_v3_large_fpn", num_classes=3, min_size=128))
    assert _num_classes(model) == 3
    assert model.transform.min_size == (128,)
    assert set(BUILDERS) == {"maskrcnn_mobilenet_v3_large_fpn", "maskrcnn_resnet50_fpn_v2"}
    with pytest.raises(ValueError, match="unknown segmentation builder"):
        build_model({"builder": "nope", "kwargs": {}})


def test_load_segmentation_model_round_trips_through_registry(tmp_path):
    torch.manual_seed(0)
    architecture = model_architecture("maskrcnn_mobilenet_v3_large_fpn", fpn_channels=32)
    model = build_model(architecture)
    registry = ModelRegistry(LocalFolderStore(tmp_path))
    manifest = ModelManifest(kind="segmentation", name="seg", version="v1", architecture=architecture)
    registry.save(manifest, model.state_dict(), half=True)
    loaded, found = load_model(registry, "seg")
    assert found.dtype == "float16" and not loaded.training
    key = "roi_heads.box_head.fc6.weight"
    assert torch.allclose(loaded.state_dict()[key], model.state_dict()[key], atol=1e-3)
