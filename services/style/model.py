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

from fittingroom.builders import architecture, build

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
    ) -> None:
        super().__init__()
        if num_colours < 1 or num_patterns < 1:
            raise ValueError("StyleNet needs at least one colour and one pattern class")
        chans = [width, 2 * width, 4 * width, 8 * width]
        # Full-resolution stem before the first stride: fine stripes and dots are only
        # 1-3 px wide at 96x96 and would alias away in a stride-2 first layer.
        stages = [_conv_bn_relu(3, width), _conv_bn_relu(width, width, stride=2)]
        for cin, cout in zip(chans[:-1], chans[1:]):
            stages += [_conv_bn_relu(cin, cout, stride=2), _conv_bn_relu(cout, cout)]
        self.trunk = nn.Sequential(*stages)
        features = 2 * chans[-1] + 3
        self.colour_head = _head(features, hidden, num_colours, dropout)
        self.pattern_head = _head(features, hidden, num_patterns, dropout)
        self.num_colours = num_colours
        self.num_patterns = num_patterns

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled trunk features plus the masked mean RGB, ``N×(16·width+3)``."""
        fmap = self.trunk(x)
        pooled = torch.cat([fmap.mean(dim=(2, 3)), fmap.amax(dim=(2, 3))], dim=1)
        return torch.cat([pooled, masked_mean_rgb(x)], dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.features(x)
        return self.colour_head(feats), self.pattern_head(feats)


def stylenet_small(
    num_colours: int, num_patterns: int, width: int = 16, hidden: int = 64, dropout: float = 0.1
) -> StyleNet:
    """The starter StyleNet (~0.3 M parameters, ~0.6 MB as float16 at width 16)."""
    return StyleNet(num_colours, num_patterns, width=width, hidden=hidden, dropout=dropout)


BUILDERS: dict[str, Callable[..., StyleNet]] = {"stylenet_small": stylenet_small}


def style_architecture(builder: str = "stylenet_small", **kwargs: Any) -> dict[str, Any]:
    """The registry ``architecture`` dict that :func:`build_style_model` rebuilds from."""
    return architecture(BUILDERS, "style", builder, **kwargs)


def build_style_model(spec: dict[str, Any]) -> StyleNet:
    """Rebuild a StyleNet (random weights) from ``{"builder": name, "kwargs": {...}}``."""
    return build(BUILDERS, "style", spec)
