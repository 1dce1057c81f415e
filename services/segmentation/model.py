"""Mask R-CNN builders for garment segmentation, and loading them from the registry.

Class 0 is background; classes 1..13 are the DeepFashion2 categories of
:data:`fittingroom.garments.CATEGORIES`. Every builder starts from random weights
(no downloads): ``weights=None`` and ``weights_backbone=None`` throughout.

A registry manifest's ``architecture`` is ``{"builder": <name in BUILDERS>,
"kwargs": {...}}`` so :func:`build_model` can rebuild the exact network
that a set of weights belongs to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torchvision.models import mobilenet_v3_large
from torchvision.models import detection as tv_detection
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign

from fittingroom.builders import architecture, build, load_built
from fittingroom.garments import NUM_CATEGORIES
from fittingroom.registry import ModelManifest, ModelRegistry

KIND = "segmentation"
DEFAULT_NUM_CLASSES = NUM_CATEGORIES + 1

# Slim-model defaults tuned for a CPU: fewer proposals and sampled RoIs than the
# torchvision defaults (2000/1000 proposals, 512 RoIs), which dominate CPU time.
_SLIM_DEFAULTS: dict[str, Any] = {
    "rpn_pre_nms_top_n_train": 1000,
    "rpn_post_nms_top_n_train": 500,
    "rpn_pre_nms_top_n_test": 500,
    "rpn_post_nms_top_n_test": 100,
    "box_batch_size_per_image": 128,
}


def _mobilenet_fpn_backbone(fpn_channels: int, returned_stages: Sequence[int]) -> BackboneWithFPN:
    """MobileNetV3-Large features (random init, all layers trainable) under an FPN."""
    features = mobilenet_v3_large(weights=None, norm_layer=nn.BatchNorm2d).features
    stage_indices = [0] + [i for i, b in enumerate(features) if getattr(b, "_is_cn", False)]
    stage_indices.append(len(features) - 1)
    return_layers = {str(stage_indices[k]): str(i) for i, k in enumerate(returned_stages)}
    in_channels = [features[stage_indices[k]].out_channels for k in returned_stages]
    return BackboneWithFPN(features, return_layers, in_channels, fpn_channels)


def maskrcnn_mobilenet_v3_large_fpn(
    num_classes: int = DEFAULT_NUM_CLASSES,
    fpn_channels: int = 64,
    representation_size: int = 256,
    mask_channels: int = 64,
    returned_stages: Sequence[int] = (2, 3, 5),
    anchor_sizes: Sequence[int] = (32, 64, 128, 256),
    min_size: int = 256,
    max_size: int = 512,
    **kwargs: Any,
) -> MaskRCNN:
    """Slim Mask R-CNN with a MobileNetV3-Large FPN backbone, sized for CPUs.

    Built from torchvision's pieces, but with a narrow FPN (``fpn_channels``), a
    small two-layer box head (``representation_size``) and a narrow mask head
    (``mask_channels``), so the float16 weights stay around 9 MB.

    Args:
        num_classes: number of output classes including background (14 for
            DeepFashion2).
        fpn_channels: channels of every FPN level.
        representation_size: width of the box head's two fully connected layers.
        mask_channels: channels of the four mask-head convolutions.
        returned_stages: MobileNet stages fed to the FPN; the default (2, 3, 5)
            gives strides 8, 16 and 32 (plus a stride-64 pooled level).
        anchor_sizes: one anchor size per FPN level (including the pooled one).
        min_size: shorter side the input is resized to.
        max_size: upper bound of the longer side after resizing.
        **kwargs: passed to :class:`torchvision.models.detection.MaskRCNN`
            (e.g. ``box_score_thresh``, ``rpn_post_nms_top_n_test``).
    """
    backbone = _mobilenet_fpn_backbone(fpn_channels, returned_stages)
    names = [str(i) for i in range(len(returned_stages))]
    if len(anchor_sizes) != len(names) + 1:
        raise ValueError(f"need {len(names) + 1} anchor sizes (one per FPN level), got {len(anchor_sizes)}")
    anchors = AnchorGenerator(tuple((s,) for s in anchor_sizes), ((0.5, 1.0, 2.0),) * len(anchor_sizes))
    box_pool = MultiScaleRoIAlign(featmap_names=names, output_size=7, sampling_ratio=2)
    mask_pool = MultiScaleRoIAlign(featmap_names=names, output_size=14, sampling_ratio=2)
    options = {**_SLIM_DEFAULTS, **kwargs}
    return MaskRCNN(
        backbone,
        num_classes=None,
        min_size=min_size,
        max_size=max_size,
        rpn_anchor_generator=anchors,
        box_roi_pool=box_pool,
        box_head=TwoMLPHead(fpn_channels * 7 * 7, representation_size),
        box_predictor=FastRCNNPredictor(representation_size, num_classes),
        mask_roi_pool=mask_pool,
        mask_head=MaskRCNNHeads(fpn_channels, [mask_channels] * 4, dilation=1),
        mask_predictor=MaskRCNNPredictor(mask_channels, mask_channels, num_classes),
        **options,
    )


def maskrcnn_resnet50_fpn_v2(
    num_classes: int = DEFAULT_NUM_CLASSES,
    min_size: int = 800,
    max_size: int = 1333,
    **kwargs: Any,
) -> MaskRCNN:
    """Full-size Mask R-CNN v2 (ResNet-50 FPN, Li et al. 2021) for GPUs.

    torchvision's ``maskrcnn_resnet50_fpn_v2`` with random weights; without
    pretrained weights torchvision makes every backbone layer trainable.

    Args:
        num_classes: number of output classes including background.
        min_size: shorter side the input is resized to.
        max_size: upper bound of the longer side after resizing.
        **kwargs: passed to :class:`torchvision.models.detection.MaskRCNN`.
    """
    return tv_detection.maskrcnn_resnet50_fpn_v2(
        weights=None,
        weights_backbone=None,
        num_classes=num_classes,
        min_size=min_size,
        max_size=max_size,
        **kwargs,
    )


BUILDERS: dict[str, Callable[..., MaskRCNN]] = {
    "maskrcnn_mobilenet_v3_large_fpn": maskrcnn_mobilenet_v3_large_fpn,
    "maskrcnn_resnet50_fpn_v2": maskrcnn_resnet50_fpn_v2,
}


def model_architecture(builder: str, **kwargs: Any) -> dict[str, Any]:
    """The manifest ``architecture`` dict for a builder name and its kwargs."""
    return architecture(BUILDERS, KIND, builder, **kwargs)


def build_model(spec: dict[str, Any]) -> MaskRCNN:
    """Rebuild a model from a manifest ``architecture`` dict (random weights)."""
    return build(BUILDERS, KIND, spec)


def load_model(registry: ModelRegistry, ref: str, device: torch.device | str = "cpu") -> tuple[MaskRCNN, ModelManifest]:
    """A registered Mask R-CNN by ``name[:version]``, on ``device``, in eval mode."""
    return load_built(registry, KIND, BUILDERS, ref, device)


def weight_bytes(model: nn.Module, bytes_per_value: int = 2) -> int:
    """Size of the model's parameters and buffers at ``bytes_per_value`` (2 = float16)."""
    tensors = list(model.state_dict().values())
    return sum(t.numel() * (bytes_per_value if t.is_floating_point() else t.element_size()) for t in tensors)
