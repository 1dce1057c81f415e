"""CycleGAN networks: the ResNet generator and the 70×70 PatchGAN discriminator.

Same layer layout as the original CycleGAN code (Zhu et al., junyanz/
pytorch-CycleGAN-and-pix2pix), so weights trained here follow the paper's recipe.
A generator is rebuilt from its registry manifest through :func:`build_model`,
which only accepts the builder names listed in :data:`BUILDERS`.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import torch
from torch import nn

from fittingroom.builders import build, check_builder, load_built
from fittingroom.errors import UnknownStyleError
from fittingroom.garments import parse_style_key
from fittingroom.registry import ModelManifest, ModelRegistry, available_style_classes, parse_model_ref

KIND = "translation"
NORMS = ("instance", "batch", "none")


def norm_layer(norm: str) -> Callable[[int], nn.Module]:
    """Factory for the normalisation layer by name (instance norm is CycleGAN's default)."""
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "none":
        return lambda channels: nn.Identity()
    raise ValueError(f"unknown norm '{norm}'; known: {', '.join(NORMS)}")


class ResnetBlock(nn.Module):
    """Two reflection-padded 3×3 convolutions with a skip connection."""

    def __init__(self, dim: int, norm: str, use_dropout: bool, use_bias: bool) -> None:
        super().__init__()
        make_norm = norm_layer(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, bias=use_bias),
            make_norm(dim),
            nn.ReLU(True),
        ]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, bias=use_bias), make_norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Image-to-image generator: 7×7 stem, 2 stride-2 downs, residual blocks, 2 ups, tanh.

    Input and output are in [-1, 1]; height and width must be multiples of 4 so the
    two up-samplings restore the input size exactly.
    """

    def __init__(
        self,
        in_ch: int = 3,
        out_ch: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: str = "instance",
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        if n_blocks < 0:
            raise ValueError("n_blocks must be >= 0")
        make_norm = norm_layer(norm)
        use_bias = norm != "batch"
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_ch, ngf, kernel_size=7, bias=use_bias),
            make_norm(ngf),
            nn.ReLU(True),
        ]
        for i in range(2):
            mult = 2**i
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=use_bias),
                make_norm(ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4, norm, use_dropout, use_bias) for _ in range(n_blocks)]
        for i in range(2):
            mult = 2 ** (2 - i)
            layers += [
                nn.ConvTranspose2d(
                    ngf * mult, ngf * mult // 2, kernel_size=3, stride=2, padding=1, output_padding=1, bias=use_bias
                ),
                make_norm(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_ch, kernel_size=7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN: one real/fake score per overlapping patch (70×70 with n_layers=3).

    A 256×256 input gives a 30×30 score map; scores are logits (no sigmoid), the GAN
    loss decides how to read them.
    """

    def __init__(self, in_ch: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance") -> None:
        super().__init__()
        make_norm = norm_layer(norm)
        use_bias = norm != "batch"
        layers: list[nn.Module] = [nn.Conv2d(in_ch, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=use_bias),
                make_norm(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """CycleGAN's init: conv weights ~ N(0, gain), biases 0, norm scales ~ N(1, gain)."""

    def init_one(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)

    net.apply(init_one)
    return net


def resnet_generator_slim(
    in_ch: int = 3, out_ch: int = 3, ngf: int = 16, n_blocks: int = 6, norm: str = "instance",
    use_dropout: bool = False,
) -> ResnetGenerator:
    """CPU-sized generator (~0.5 M parameters, < 1 MB as float16); the default here."""
    return ResnetGenerator(in_ch, out_ch, ngf, n_blocks, norm, use_dropout)


def resnet_generator_9blocks(
    in_ch: int = 3, out_ch: int = 3, ngf: int = 64, n_blocks: int = 9, norm: str = "instance",
    use_dropout: bool = False,
) -> ResnetGenerator:
    """The paper's 256×256 generator (ngf=64, 9 residual blocks, ~11 M parameters)."""
    return ResnetGenerator(in_ch, out_ch, ngf, n_blocks, norm, use_dropout)


BUILDERS: dict[str, Callable[..., ResnetGenerator]] = {
    "resnet_generator_slim": resnet_generator_slim,
    "resnet_generator_9blocks": resnet_generator_9blocks,
}


def build_model(spec: dict[str, Any]) -> ResnetGenerator:
    """Rebuild a generator from a manifest's ``{"builder": name, "kwargs": {...}}``."""
    return build(BUILDERS, KIND, spec)


def model_architecture(builder: str, **overrides: Any) -> dict[str, Any]:
    """Manifest architecture dict for ``builder``: every kwarg spelled out.

    ``None`` overrides keep the builder's default, so the manifest records the
    actual sizes and stays valid if a builder's defaults change later.
    """
    params = inspect.signature(check_builder(BUILDERS, KIND, builder)).parameters
    unknown = set(overrides) - set(params)
    if unknown:
        raise ValueError(f"builder '{builder}' has no arguments {sorted(unknown)}")
    kwargs = {name: p.default for name, p in params.items()}
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    return {"builder": builder, "kwargs": kwargs}


def generator_ref(translation_model: str, style_key: str) -> str:
    """The registry reference of a style class's generator: ``*`` in ``translation_model`` is the class."""
    return translation_model.replace("*", style_key, 1)


def load_model(registry: ModelRegistry, ref: str, device: torch.device | str = "cpu") -> tuple[ResnetGenerator, ModelManifest]:
    """A style class's generator G_A by ``<style class>[:version]``, on ``device``, in eval mode.

    Raises :class:`UnknownStyleError` (listing the available classes) when the
    name is not a style class with weights, and :class:`ModelNotFoundError` when
    the class exists but the version does not.
    """
    style_key, _ = parse_model_ref(ref)
    available = available_style_classes(registry)
    try:
        parse_style_key(style_key)
    except ValueError:
        raise UnknownStyleError(style_key, available) from None
    if style_key not in available:
        raise UnknownStyleError(style_key, available)
    return load_built(registry, KIND, BUILDERS, ref, device)
