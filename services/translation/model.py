"""The CycleGAN training model: two generators, two discriminators, losses, optimisers.

``G_A`` maps the source domain (any garment) to the target style class; ``G_B``
maps back. ``D_A`` judges ``G_A``'s outputs against real target images and ``D_B``
judges ``G_B``'s against real source images (the original code's naming). Only
``G_A`` is shipped; the rest exists to train it.

For data-parallel training each network's training forward goes through a
wrapper (DDP, see :mod:`fittingroom.distributed`), while the plain networks serve
checkpoints, samples and the registry. The generator update reads the
discriminators unwrapped: they are frozen there, and their gradients are shared in
their own update.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from fittingroom.translation.losses import GANLoss, identity_step, linear_decay_factor, reconstruction_loss
from fittingroom.translation.networks import PatchDiscriminator, build_model, init_weights, model_architecture
from fittingroom.translation.options import TranslationTrainOptions
from fittingroom.training import MixedPrecision
from fittingroom.translation.pool import ImagePool

LOSS_NAMES = ("G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B")
NET_NAMES = ("G_A", "G_B", "D_A", "D_B")


def _unwrapped(net: nn.Module) -> nn.Module:
    return net


def _set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


class CycleGANModel:
    """Networks, objectives and optimisation of one CycleGAN run."""

    def __init__(self, opts: TranslationTrainOptions, device: torch.device | str = "cpu",
                 wrap: Callable[[nn.Module], nn.Module] | None = None) -> None:
        self.opts = opts
        self.device = torch.device(device)
        self.architecture = model_architecture(opts.generator, ngf=opts.ngf, n_blocks=opts.n_blocks, norm=opts.norm)
        self.G_A = self._net(build_model(self.architecture))
        self.G_B = self._net(build_model(self.architecture))
        self.D_A = self._net(PatchDiscriminator(3, opts.ndf, opts.n_layers, opts.norm))
        self.D_B = self._net(PatchDiscriminator(3, opts.ndf, opts.n_layers, opts.norm))
        self.trained = {name: (wrap or _unwrapped)(getattr(self, name)) for name in NET_NAMES}
        self.amp = MixedPrecision(opts.amp, self.device)
        self.gan_loss = GANLoss(opts.gan_mode).to(self.device)
        self.recon = reconstruction_loss(opts.recon_loss)
        betas = (opts.beta1, 0.999)
        g_params = list(self.G_A.parameters()) + list(self.G_B.parameters())
        d_params = list(self.D_A.parameters()) + list(self.D_B.parameters())
        self.optimizer_G = torch.optim.Adam(g_params, lr=opts.lr, betas=betas)
        self.optimizer_D = torch.optim.Adam(d_params, lr=opts.lr, betas=betas)
        self.schedulers = [
            torch.optim.lr_scheduler.LambdaLR(opt, self._lr_factor) for opt in (self.optimizer_G, self.optimizer_D)
        ]
        pool_rng = random.Random(opts.seed)
        self.fake_A_pool = ImagePool(opts.pool_size, pool_rng)
        self.fake_B_pool = ImagePool(opts.pool_size, pool_rng)

    def _net(self, net: nn.Module) -> nn.Module:
        return init_weights(net).to(self.device).train()

    def _lr_factor(self, epoch: int) -> float:
        return linear_decay_factor(epoch, self.opts.n_epochs, self.opts.n_epochs_decay)

    @property
    def lr(self) -> float:
        """Current generator learning rate."""
        return self.optimizer_G.param_groups[0]["lr"]

    def train_step(self, real_a: torch.Tensor, real_b: torch.Tensor, step: int) -> dict[str, float]:
        """One generator update then one discriminator update; returns every loss term.

        ``step`` is the 0-based global step; the identity terms are computed only on
        steps selected by ``identity_every`` and reported as 0 otherwise.
        """
        real_a, real_b = real_a.to(self.device), real_b.to(self.device)
        g_a, g_b = self.trained["G_A"], self.trained["G_B"]
        with self.amp.autocast():
            fake_b = g_a(real_a)
            rec_a = g_b(fake_b)
            fake_a = g_b(real_b)
            rec_b = g_a(fake_a)
        losses = self._update_generators(real_a, real_b, fake_a, fake_b, rec_a, rec_b, step)
        losses.update(self._update_discriminators(real_a, real_b, fake_a, fake_b))
        self.amp.update()
        return losses

    def _update_generators(
        self, real_a: torch.Tensor, real_b: torch.Tensor, fake_a: torch.Tensor, fake_b: torch.Tensor,
        rec_a: torch.Tensor, rec_b: torch.Tensor, step: int,
    ) -> dict[str, float]:
        opts = self.opts
        _set_requires_grad([self.D_A, self.D_B], False)
        self.optimizer_G.zero_grad(set_to_none=True)
        with self.amp.autocast():
            terms = {
                "G_A": self.gan_loss(self.D_A(fake_b), True),
                "G_B": self.gan_loss(self.D_B(fake_a), True),
                "cycle_A": self.recon(rec_a, real_a) * opts.lambda_cycle,
                "cycle_B": self.recon(rec_b, real_b) * opts.lambda_cycle,
            }
            if identity_step(step, opts.identity_every, opts.lambda_identity):
                weight = opts.lambda_cycle * opts.lambda_identity
                terms["idt_A"] = self.recon(self.trained["G_A"](real_b), real_b) * weight
                terms["idt_B"] = self.recon(self.trained["G_B"](real_a), real_a) * weight
        self.amp.backward(sum(terms.values()))
        self.amp.step(self.optimizer_G)
        _set_requires_grad([self.D_A, self.D_B], True)
        values = {name: float(value.detach()) for name, value in terms.items()}
        values.setdefault("idt_A", 0.0)
        values.setdefault("idt_B", 0.0)
        return values

    def _discriminator_loss(self, net: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.gan_loss(net(real), True) + self.gan_loss(net(fake.detach()), False))

    def _update_discriminators(
        self, real_a: torch.Tensor, real_b: torch.Tensor, fake_a: torch.Tensor, fake_b: torch.Tensor
    ) -> dict[str, float]:
        self.optimizer_D.zero_grad(set_to_none=True)
        with self.amp.autocast():
            loss_d_a = self._discriminator_loss(self.trained["D_A"], real_b, self.fake_B_pool.query(fake_b))
            loss_d_b = self._discriminator_loss(self.trained["D_B"], real_a, self.fake_A_pool.query(fake_a))
        self.amp.backward(loss_d_a + loss_d_b)
        self.amp.step(self.optimizer_D)
        return {"D_A": float(loss_d_a.detach()), "D_B": float(loss_d_b.detach())}

    def end_epoch(self) -> None:
        """Advance the learning-rate schedules by one epoch."""
        for scheduler in self.schedulers:
            scheduler.step()

    @torch.no_grad()
    def visuals(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """Both translation cycles of fixed samples, for the per-epoch grid (rows in grid order)."""
        real_a, real_b = real_a.to(self.device), real_b.to(self.device)
        self.G_A.eval(), self.G_B.eval()
        try:
            fake_b, fake_a = self.G_A(real_a), self.G_B(real_b)
            return {
                "real_A": real_a, "fake_B": fake_b, "rec_A": self.G_B(fake_b),
                "real_B": real_b, "fake_A": fake_a, "rec_B": self.G_A(fake_a),
            }
        finally:
            self.G_A.train(), self.G_B.train()

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: network weights, optimiser and schedule state."""
        state: dict[str, Any] = {name: getattr(self, name).state_dict() for name in NET_NAMES}
        state["optimizer_G"] = self.optimizer_G.state_dict()
        state["optimizer_D"] = self.optimizer_D.state_dict()
        state["schedulers"] = [s.state_dict() for s in self.schedulers]
        return state

    def load_networks(self, state: dict[str, Any]) -> None:
        """Start from another run's networks (a :meth:`state_dict`), keeping this run's optimisers."""
        for name in NET_NAMES:
            getattr(self, name).load_state_dict(state[name])

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (same options/architecture)."""
        self.load_networks(state)
        self.optimizer_G.load_state_dict(state["optimizer_G"])
        self.optimizer_D.load_state_dict(state["optimizer_D"])
        for scheduler, sched_state in zip(self.schedulers, state["schedulers"]):
            scheduler.load_state_dict(sched_state)
