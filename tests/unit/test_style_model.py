"""StyleNet shapes, builders and size budget."""

import pytest
import torch
from safetensors.torch import save

from fittingroom.style.model import (
    BUILDERS,
    StyleNet,
    build_model,
    masked_mean_rgb,
    model_architecture,
    stylenet_small,
)


def test_forward_shapes_per_head():
    model = stylenet_small(num_colours=8, num_patterns=5).eval()
    colour, pattern = model(torch.rand(3, 3, 96, 96))
    assert colour.shape == (3, 8)
    assert pattern.shape == (3, 5)


def test_build_from_architecture_dict_round_trips_weights():
    arch = model_architecture("stylenet_small", num_colours=4, num_patterns=2, width=8)
    a, b = build_model(arch), build_model(arch)
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    x = torch.rand(2, 3, 96, 96)
    assert torch.equal(a(x)[0], b(x)[0])
    assert isinstance(a, StyleNet) and a.num_colours == 4
    assert "stylenet_small" in BUILDERS


def test_unknown_builder_is_rejected():
    with pytest.raises(ValueError, match="stylenet_small"):
        build_model({"builder": "resnet999", "kwargs": {}})


def test_starter_weights_under_two_megabytes_in_fp16():
    model = stylenet_small(8, 5)
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    assert len(save(half)) < 2 * 1024 * 1024


def test_masked_mean_rgb_ignores_black_background():
    x = torch.zeros(1, 3, 10, 10)
    x[0, :, :2, :] = torch.tensor([0.8, 0.2, 0.1])[:, None, None]
    mean = masked_mean_rgb(x)[0]
    assert torch.allclose(mean, torch.tensor([0.8, 0.2, 0.1]))
    assert torch.equal(masked_mean_rgb(torch.zeros(1, 3, 4, 4)), torch.zeros(1, 3))
