"""The data-parallel helper: sharding, the single-rank identity, and batch norm across ranks."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import RandomSampler

from fittingroom.distributed import (
    AllReduceBatchNorm, Distributed, ShardedSampler, distributed_session, synchronise_batch_norm,
)


def test_shards_deal_the_wrapped_order_round_robin_and_pad_by_repeating_its_start():
    order = list(range(10, 17))
    shards = [list(ShardedSampler(order, rank, 3)) for rank in range(3)]
    assert shards == [[10, 13, 16], [11, 14, 10], [12, 15, 11]]
    assert [len(ShardedSampler(order, rank, 3)) for rank in range(3)] == [3, 3, 3]
    with pytest.raises(ValueError):
        ShardedSampler(order, 3, 3)


def test_each_global_batch_is_the_one_process_batch():
    """Ranks seed the wrapped sampler alike; step k of 2 ranks × 2 is step k of 1 process × 4."""
    def order() -> RandomSampler:
        return RandomSampler(range(16), generator=torch.Generator().manual_seed(4))

    single = list(order())
    ranks = [list(ShardedSampler(order(), rank, 2)) for rank in range(2)]
    for step in range(4):
        together = ranks[0][2 * step:2 * step + 2] + ranks[1][2 * step:2 * step + 2]
        assert sorted(together) == sorted(single[4 * step:4 * step + 4])


def test_one_rank_is_the_identity(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with distributed_session("cpu") as run:
        assert (run.rank, run.world_size, run.is_main, run.active) == (0, 1, True, False)
        model = nn.BatchNorm1d(3)
        assert run.wrap(model) is model and isinstance(model, nn.BatchNorm1d)
        assert run.mean({"loss": 2.5}) == {"loss": 2.5}
        assert run.shard(sampler := RandomSampler(range(4))) is sampler
        assert run.rank_seed(7) == 7
    assert not dist.is_initialized()
    assert Distributed(torch.device("cpu"), rank=1, world_size=2).rank_seed(7) != 7


@pytest.fixture
def one_rank_group(tmp_path):
    """A gloo group of one process, so the all-reduce batch norm runs its distributed path."""
    dist.init_process_group("gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_all_reduce_batch_norm_matches_batch_norm(one_rank_group):
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.BatchNorm1d(4 * 36))
    synced = synchronise_batch_norm(copy.deepcopy(plain), torch.device("cpu"))
    assert isinstance(synced[1], AllReduceBatchNorm) and isinstance(synced[4], AllReduceBatchNorm)
    assert synced.state_dict().keys() == plain.state_dict().keys()
    x = torch.randn(6, 3, 8, 8) * 3 + 1
    for model in (plain, synced):
        model(x).square().mean().backward()
    for (name, a), b in zip(plain.named_parameters(), synced.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-6, msg=name)
    for name, buffer in plain.state_dict().items():
        torch.testing.assert_close(synced.state_dict()[name], buffer, rtol=1e-5, atol=1e-6, msg=name)
    plain.eval(), synced.eval()
    torch.testing.assert_close(synced(x), plain(x), rtol=1e-4, atol=1e-5)


def test_swapped_batch_norm_keeps_the_parameters_an_optimizer_holds():
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    weight = model[1].weight
    synchronise_batch_norm(model, torch.device("cpu"))
    assert model[1].weight is weight
