"""Shapes, ranges and rebuild-from-manifest of the CycleGAN networks."""

import pytest
import torch
from safetensors.torch import save

from fittingroom.translation.networks import (
    BUILDERS, PatchDiscriminator, ResnetGenerator, build_model, model_architecture, init_weights,
)


def tiny_generator() -> ResnetGenerator:
    return ResnetGenerator(ngf=4, n_blocks=1)


@pytest.mark.parametrize("height,width", [(256, 256), (68, 100), (36, 44)])
def test_generator_keeps_size_and_range(height, width):
    torch.manual_seed(0)
    net = tiny_generator()
    x = torch.rand(2, 3, height, width) * 2 - 1
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, 3, height, width)
    assert y.min() >= -1 and y.max() <= 1


def test_slim_generator_default_output_shape_and_fp16_size():
    net = BUILDERS["resnet_generator_slim"]()
    with torch.no_grad():
        y = net(torch.zeros(1, 3, 64, 64))
    assert y.shape == (1, 3, 64, 64)
    blob = save({k: v.half() for k, v in net.state_dict().items()})
    assert len(blob) < 1_050_000


@pytest.mark.parametrize("size,patches", [(256, 30), (128, 14), (70, 6)])
def test_patch_discriminator_score_map(size, patches):
    net = PatchDiscriminator(ndf=8, n_layers=3)
    with torch.no_grad():
        out = net(torch.zeros(1, 3, size, size))
    assert out.shape == (1, 1, patches, patches)


def test_init_weights_normal_002():
    torch.manual_seed(0)
    net = init_weights(ResnetGenerator(ngf=16, n_blocks=2))
    weights = torch.cat([m.weight.flatten() for m in net.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(weights.std().item() - 0.02) < 0.002
    assert abs(weights.mean().item()) < 0.002


def test_build_generator_from_architecture_matches_state_dict():
    arch = model_architecture("resnet_generator_slim", ngf=8, n_blocks=None)
    assert arch["kwargs"]["ngf"] == 8 and arch["kwargs"]["n_blocks"] == 6
    first, second = build_model(arch), build_model(arch)
    second.load_state_dict(first.state_dict())
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(first(x), second(x))


def test_unknown_builder_and_kwarg_rejected():
    with pytest.raises(ValueError, match="unknown translation builder"):
        build_model({"builder": "os.system", "kwargs": {}})
    with pytest.raises(ValueError, match="no arguments"):
        model_architecture("resnet_generator_slim", depth=3)
