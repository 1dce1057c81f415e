"""StyleNet: a small two-headed CNN that names a garment crop's colour and pattern.

Input contract (shared by training and inference, see :mod:`fittingroom.style.preprocess`):
a float tensor ``N×3×96×96`` holding sRGB values scaled to ``[0, 1]`` (``uint8 / 255``),
**no mean/std normalisation**. Pixels outside the garment mask and the letterbox
padding are exactly ``0``, so the network sees "background" as the same value the
convolutions pad with, and it can recover the garment mask as "any channel > 0".

The trunk is shared; the two heads read the trunk's global average and max pools plus
the masked mean RGB of the input (the garment's average colour, a cheap and strong
cue for the colour head that ignores the black background).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from fittingroom.builders import architecture, build, load_built
from fittingroom.registry import ModelManifest, ModelRegistry

KIND = "style"
INPUT_SIZE = 96
# A pixel counts as garment when any channel exceeds this (inputs are in [0, 1]).
FOREGROUND_EPS = 1.0 / 255.0


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _head(features: int, hidden: int, classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(features, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(hidden, classes),
    )


def masked_mean_rgb(x: torch.Tensor) -> torch.Tensor:
    """Mean colour of the garment pixels (``N×3``); zeros for an all-background input."""
    fg = (x.amax(dim=1, keepdim=True) > FOREGROUND_EPS).to(x.dtype)
    return (x * fg).sum(dim=(2, 3)) / fg.sum(dim=(2, 3)).clamp_min(1.0)


SPECTRUM_RADII = 4
SPECTRUM_ANGLES = 8


def spectrum_bins(size: int, radii: int = SPECTRUM_RADII, angles: int = SPECTRUM_ANGLES) -> torch.Tensor:
    """One-hot ``(size·(size//2+1)) × (radii·angles)`` map from rfft2 cells to (radius, angle) bins.

    Radii are log-spaced from one cycle per crop to Nyquist (the DC term belongs to
    no bin); angles split the half-plane of orientations evenly.
    """
    fy = torch.fft.fftfreq(size)[:, None].expand(size, size // 2 + 1)
    fx = torch.fft.rfftfreq(size)[None, :].expand(size, size // 2 + 1)
    radius = torch.sqrt(fx**2 + fy**2)
    angle = torch.remainder(torch.atan2(fy, fx), torch.pi)
    edges = torch.logspace(torch.log10(torch.tensor(1.0 / size)), torch.log10(torch.tensor(0.5 * 1.4143)), radii + 1)
    r_bin = torch.bucketize(radius, edges) - 1
    a_bin = torch.clamp((angle / torch.pi * angles).long(), max=angles - 1)
    valid = (r_bin >= 0) & (r_bin < radii)
    index = torch.where(valid, r_bin * angles + a_bin, torch.full_like(r_bin, radii * angles))
    return nn.functional.one_hot(index.flatten(), radii * angles + 1)[:, :-1].float()


def masked_spectrum(x: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """How the garment's lightness varies, by scale and orientation (``N×(bins+1)``).

    Stripes put their energy at one orientation, checks at two, dots at all of them
    at one scale, prints everywhere, solids nowhere: the share of the garment's
    spectral energy in each (radius, angle) bin, plus the log of its total.
    """
    fg = (x.amax(dim=1) > FOREGROUND_EPS).to(x.dtype)
    grey = x.mean(dim=1)
    mean = (grey * fg).sum(dim=(1, 2), keepdim=True) / fg.sum(dim=(1, 2), keepdim=True).clamp_min(1.0)
    power = torch.fft.rfft2((grey - mean) * fg).abs().square().flatten(1)
    energy = power @ bins
    total = energy.sum(dim=1, keepdim=True)
    area = fg.sum(dim=(1, 2)).clamp_min(1.0)[:, None]
    shares = energy / total.clamp_min(1e-8)
    return torch.cat([torch.log(shares * bins.shape[1] + 1e-3), torch.log1p(total / area)], dim=1)


class StyleNet(nn.Module):
    """Shared conv trunk (full-res stem, 4 stride-2 steps, 96→6 px) with colour and pattern heads.

    ``forward`` returns ``(colour_logits N×num_colours, pattern_logits N×num_patterns)``.
    """

    def __init__(
        self,
        num_colours: int,
        num_patterns: int,
        width: int = 16,
        hidden: int = 64,
        dropout: float = 0.1,
        input_size: int = INPUT_SIZE,
        spectrum: bool = False,
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.spectrum = spectrum
        if spectrum:
            self.register_buffer("spectrum_bins", spectrum_bins(input_size), persistent=False)
            # Energy shares are tiny next to the trunk's activations: normalise them.
            self.spectrum_norm = nn.BatchNorm1d(SPECTRUM_RADII * SPECTRUM_ANGLES + 1)
        if num_colours < 1 or num_patterns < 1:
            raise ValueError("StyleNet needs at least one colour and one pattern class")
        chans = [width, 2 * width, 4 * width, 8 * width]
        # Full-resolution stem before the first stride: fine stripes and dots are only
        # 1-3 px wide at 96x96 and would alias away in a stride-2 first layer.
        stages = [_conv_bn_relu(3, width), _conv_bn_relu(width, width, stride=2)]
        for cin, cout in zip(chans[:-1], chans[1:]):
            stages += [_conv_bn_relu(cin, cout, stride=2), _conv_bn_relu(cout, cout)]
        self.trunk = nn.Sequential(*stages)
        features = 2 * chans[-1] + 3 + (SPECTRUM_RADII * SPECTRUM_ANGLES + 1 if spectrum else 0)
        self.colour_head = _head(features, hidden, num_colours, dropout)
        self.pattern_head = _head(features, hidden, num_patterns, dropout)
        self.num_colours = num_colours
        self.num_patterns = num_patterns

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled trunk features, the masked mean RGB and (optionally) the masked spectrum."""
        fmap = self.trunk(x)
        pooled = torch.cat([fmap.mean(dim=(2, 3)), fmap.amax(dim=(2, 3))], dim=1)
        extra = [self.spectrum_norm(self._spectrum(x))] if self.spectrum else []
        return torch.cat([pooled, masked_mean_rgb(x), *extra], dim=1)

    def _spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """The masked spectrum in float32 even under autocast: its energies overflow float16."""
        with torch.autocast(x.device.type, enabled=False):
            return masked_spectrum(x.float(), self.spectrum_bins)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.features(x)
        return self.colour_head(feats), self.pattern_head(feats)


def stylenet_small(
    num_colours: int, num_patterns: int, width: int = 16, hidden: int = 64, dropout: float = 0.1,
    input_size: int = INPUT_SIZE, spectrum: bool = False,
) -> StyleNet:
    """The starter StyleNet (~0.3 M parameters, ~0.6 MB as float16 at width 16).

    ``input_size`` is the side of the square crop it reads (the trunk is fully
    convolutional): larger shows finer stripes and dots, at quadratic cost.
    ``spectrum`` adds the garment's masked power spectrum by scale and orientation
    to both heads: a direct cue for stripes, checks and dots.
    """
    return StyleNet(num_colours, num_patterns, width=width, hidden=hidden, dropout=dropout,
                    input_size=input_size, spectrum=spectrum)


BUILDERS: dict[str, Callable[..., StyleNet]] = {"stylenet_small": stylenet_small}


def model_architecture(builder: str = "stylenet_small", **kwargs: Any) -> dict[str, Any]:
    """The registry ``architecture`` dict that :func:`build_model` rebuilds from."""
    return architecture(BUILDERS, KIND, builder, **kwargs)


def build_model(spec: dict[str, Any]) -> StyleNet:
    """Rebuild a StyleNet (random weights) from ``{"builder": name, "kwargs": {...}}``."""
    return build(BUILDERS, KIND, spec)


def load_model(registry: ModelRegistry, ref: str, device: torch.device | str = "cpu") -> tuple[StyleNet, ModelManifest]:
    """A registered StyleNet by ``name[:version]``, on ``device``, in eval mode.

    Its manifest's ``classes`` must match the heads (``colour:…`` then ``pattern:…``).
    """
    model, manifest = load_built(registry, KIND, BUILDERS, ref, device)
    colours = sum(c.startswith("colour:") for c in manifest.classes)
    patterns = sum(c.startswith("pattern:") for c in manifest.classes)
    if (colours, patterns) != (model.num_colours, model.num_patterns):
        raise ValueError(
            f"style model {ref}: manifest lists {colours} colours and {patterns} patterns "
            f"but the heads have {model.num_colours}/{model.num_patterns}"
        )
    return model, manifest
