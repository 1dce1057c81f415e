"""CycleGAN objectives, identity schedule, LR decay and image pool."""

import random

import pytest
import torch

from fittingroom.translation.losses import GANLoss, identity_step, linear_decay_factor, reconstruction_loss
from fittingroom.translation.pool import ImagePool


def test_smooth_l1_differs_from_l1_on_small_errors():
    pred, target = torch.full((4,), 0.5), torch.zeros(4)
    assert reconstruction_loss("l1")(pred, target).item() == pytest.approx(0.5)
    assert reconstruction_loss("smooth_l1")(pred, target).item() == pytest.approx(0.125)
    big = torch.full((4,), 2.0)
    assert reconstruction_loss("smooth_l1")(big, target).item() == pytest.approx(1.5)


def test_unknown_reconstruction_loss():
    with pytest.raises(ValueError):
        reconstruction_loss("l2")


def test_identity_applied_every_n_steps_only():
    steps = [s for s in range(60) if identity_step(s, 20, 0.5)]
    assert steps == [0, 20, 40]
    assert not any(identity_step(s, 20, 0.0) for s in range(60))
    assert not any(identity_step(s, 0, 0.5) for s in range(60))
    assert all(identity_step(s, 1, 0.5) for s in range(5))


def test_linear_decay_schedule_values():
    factors = [linear_decay_factor(e, 25, 25) for e in range(50)]
    assert factors[:25] == [1.0] * 25
    assert factors[25] == pytest.approx(1 - 1 / 26)
    assert factors[49] == pytest.approx(1 / 26)
    assert all(a > b for a, b in zip(factors[24:], factors[25:]))
    assert linear_decay_factor(50, 25, 25) == pytest.approx(0.0)


def test_lsgan_and_vanilla_targets():
    zeros = torch.zeros(1, 1, 3, 3)
    assert GANLoss("lsgan")(zeros, True).item() == pytest.approx(1.0)
    assert GANLoss("lsgan")(zeros, False).item() == pytest.approx(0.0)
    assert GANLoss("vanilla")(zeros, True).item() == pytest.approx(0.6931, abs=1e-4)


def test_image_pool_fills_then_mixes_history():
    pool = ImagePool(3, random.Random(0))
    for i in range(3):
        out = pool.query(torch.full((1, 1, 2, 2), float(i)))
        assert out[0, 0, 0, 0].item() == float(i)
    assert len(pool) == 3
    returned = {pool.query(torch.full((1, 1, 2, 2), 9.0))[0, 0, 0, 0].item() for _ in range(20)}
    assert 9.0 in returned and returned & {0.0, 1.0, 2.0}
    assert len(pool) == 3


def test_image_pool_disabled_passes_through():
    images = torch.rand(2, 3, 4, 4)
    assert ImagePool(0).query(images) is images
