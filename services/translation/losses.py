"""CycleGAN objectives and the learning-rate schedule, as small pure pieces.

Kept apart from :mod:`model` so each can be unit-tested on hand-made tensors.
"""

from __future__ import annotations

import torch
from torch import nn


class GANLoss(nn.Module):
    """Adversarial loss against a constant real (1) or fake (0) target.

    ``lsgan`` is the least-squares objective CycleGAN uses; ``vanilla`` is the
    original cross-entropy GAN on logits.
    """

    def __init__(self, gan_mode: str = "lsgan") -> None:
        super().__init__()
        if gan_mode == "lsgan":
            self.loss: nn.Module = nn.MSELoss()
        elif gan_mode == "vanilla":
            self.loss = nn.BCEWithLogitsLoss()
        else:
            raise ValueError(f"unknown gan_mode '{gan_mode}'")
        self.gan_mode = gan_mode

    def forward(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        target = torch.full_like(prediction, 1.0 if target_is_real else 0.0)
        return self.loss(prediction, target)


def reconstruction_loss(name: str) -> nn.Module:
    """Cycle/identity criterion: ``smooth_l1`` (the original project's choice) or ``l1``."""
    if name == "smooth_l1":
        return nn.SmoothL1Loss(beta=1.0)
    if name == "l1":
        return nn.L1Loss()
    raise ValueError(f"unknown reconstruction loss '{name}'; known: smooth_l1, l1")


def linear_decay_factor(epoch: int, n_epochs: int, n_epochs_decay: int) -> float:
    """Learning-rate multiplier for 0-based ``epoch``: 1 for ``n_epochs``, then linear towards 0.

    Same rule as the original code: during decay epoch ``k`` (1-based) uses
    ``1 - k / (n_epochs_decay + 1)``, so the last epoch still trains and the rate
    would reach zero just after it.
    """
    decayed = max(0, epoch + 1 - n_epochs)
    return max(0.0, 1.0 - decayed / float(n_epochs_decay + 1))


def identity_step(step: int, identity_every: int, lambda_identity: float) -> bool:
    """Whether the identity loss applies at 0-based global ``step`` (once every ``identity_every``)."""
    return lambda_identity > 0 and identity_every > 0 and step % identity_every == 0
