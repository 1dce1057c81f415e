"""Data-parallel training under ``torchrun``: the one helper all three trainers use.

``torchrun --nproc-per-node N`` (and multi-node runs through its rendezvous) starts
one process per rank with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``
and ``MASTER_PORT`` set. :func:`distributed_session` reads them, joins the process
group (NCCL on CUDA, gloo on CPU) and hands the trainer a :class:`Distributed`
that shards its sampler, wraps its networks in DistributedDataParallel (with batch
norm synchronised), averages logged losses across ranks, and says whether this
rank is the one that writes checkpoints, plots, the registry entry and progress bars.

Without those variables (a plain ``fittingroom train …``) the session is a single
rank and every method is the identity: single-process training runs exactly as
it did before, number for number.

The global batch is ``world_size × batch_size``: rank ``r`` takes items
``r, r + N, r + 2N …`` of the single-process order, so step ``k`` of an ``N``-rank
run sees the items step ``k`` of one process with an ``N`` times larger batch sees.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sized
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Sampler

from fittingroom.training import select_device

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class Distributed:
    """This process's place in a data-parallel run (``world_size`` 1: a plain single process)."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        """More than one rank: gradients, losses and batch-norm statistics are shared."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints, plots and registry entries and shows progress bars."""
        return self.rank == 0

    def rank_seed(self, seed: int) -> int:
        """Seed for rank-local randomness (augmentation, dropout): ``seed`` itself on rank 0.

        Ranks must not draw the same augmentations for different items; rank 0
        keeping the base seed keeps a single-process run's numbers.
        """
        return seed + (self.rank << 32)

    def shard(self, sampler: Sampler[int]) -> Sampler[int]:
        """This rank's share of ``sampler``'s order (the sampler itself on one rank)."""
        return ShardedSampler(sampler, self.rank, self.world_size) if self.active else sampler

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` for the training forward: DDP with synchronised batch norm, or itself on one rank.

        Batch-norm layers are replaced inside ``model`` (same parameters and buffers,
        same state-dict keys), so keep using ``model`` itself for evaluation,
        checkpoints and the registry: its keys have no ``module.`` prefix.
        """
        if not self.active:
            return model
        synchronise_batch_norm(model, self.device)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids)

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Every rank's ``values`` averaged (for logging: each rank's loss is over its own shard)."""
        if not self.active:
            return values
        names = sorted(values)
        stacked = torch.tensor([values[name] for name in names], dtype=torch.float64, device=self.device)
        dist.all_reduce(stacked)
        return dict(zip(names, (stacked / self.world_size).tolist()))

    def barrier(self) -> None:
        """Wait until every rank gets here (e.g. rank 0 has written a file the others read)."""
        if self.active:
            dist.barrier()


class ShardedSampler(Sampler[int]):
    """Rank ``rank``'s items of ``sampler``'s order, dealt round-robin like DistributedSampler deals.

    DistributedSampler draws a permutation of its own; wrapping the trainer's own
    sampler keeps its order (and its seeding), so ``N`` ranks with batch ``b`` see,
    step by step, what one rank with batch ``N·b`` sees. The order is padded by
    repeating its start to a multiple of ``world_size`` so every rank takes the
    same number of steps. ``sampler`` must yield the same order on every rank
    (same seed), which the trainers' seeding guarantees.
    """

    def __init__(self, sampler: Sampler[int], rank: int, world_size: int) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside a world of {world_size}")
        self.sampler, self.rank, self.world_size = sampler, rank, world_size

    def __len__(self) -> int:
        assert isinstance(self.sampler, Sized)
        return math.ceil(len(self.sampler) / self.world_size)

    def __iter__(self) -> Iterator[int]:
        order = list(self.sampler)
        total = math.ceil(len(order) / self.world_size) * self.world_size
        padded = (order * math.ceil(total / max(1, len(order))))[:total]
        return iter(padded[self.rank::self.world_size])


class AllReduceBatchNorm(_BatchNorm):
    """Batch norm whose training statistics cover every rank's samples, on any device.

    torch's SyncBatchNorm runs only on GPUs; this one sums each channel's count and
    sum, then its squared deviations from that global mean, with two differentiable
    all-reduces, so gloo (CPU) runs normalise as one process with the whole global
    batch would. Means are summed in float64 and the variance is taken about the
    global mean (two passes, no ``E[x²] − E[x]²`` cancellation), so outputs match
    plain batch norm's to float32 rounding. Evaluation uses the running
    statistics, as plain batch norm does.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {input.dim()}-D")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized()):
            return super().forward(input)
        self._check_input_dim(input)
        x = input.float()
        dims = [0, *range(2, x.dim())]
        count = torch.full((1,), x.numel() / x.shape[1], dtype=torch.float64, device=x.device)
        sums = _AllReduceSum.apply(torch.cat([x.sum(dims, dtype=torch.float64), count]))
        channels, n = x.shape[1], sums[-1]
        shape = (1, channels, *([1] * (x.dim() - 2)))
        mean = (sums[:channels] / n).to(x.dtype)
        centred = x - mean.view(shape)
        var = _AllReduceSum.apply(centred.square().sum(dims)) / n.to(x.dtype)
        self._track(mean.detach(), var.detach() * (n / (n - 1).clamp_min(1)).to(x.dtype))
        out = centred * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out.to(input.dtype)

    @torch.no_grad()
    def _track(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        if not self.track_running_stats:
            return
        self.num_batches_tracked += 1
        momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        self.running_mean.lerp_(mean, momentum)
        self.running_var.lerp_(unbiased_var, momentum)


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose gradient is the sum over ranks of the incoming gradients."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        total = grad.contiguous().clone()
        dist.all_reduce(total)
        return total


def synchronise_batch_norm(model: nn.Module, device: torch.device) -> nn.Module:
    """Swap ``model``'s batch-norm layers in place for ones that share statistics across ranks.

    CUDA uses torch's SyncBatchNorm; other devices :class:`AllReduceBatchNorm`.
    Frozen batch norm (no batch statistics) is left alone.
    """
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if isinstance(child, _BatchNorm) and not isinstance(child, AllReduceBatchNorm):
            model.add_module(name, _all_reduce_copy(child))
        else:
            synchronise_batch_norm(child, device)
    return model


def _all_reduce_copy(layer: _BatchNorm) -> AllReduceBatchNorm:
    """The same layer as an :class:`AllReduceBatchNorm`, holding the very same parameter and buffer
    tensors (so an optimizer built before the swap still updates them)."""
    synced = AllReduceBatchNorm(layer.num_features, layer.eps, layer.momentum, layer.affine,
                                layer.track_running_stats)
    if layer.affine:
        synced.weight, synced.bias = layer.weight, layer.bias
    if layer.track_running_stats:
        synced.running_mean, synced.running_var = layer.running_mean, layer.running_var
        synced.num_batches_tracked = layer.num_batches_tracked
    return synced.train(layer.training)


def under_torchrun() -> bool:
    """Whether torchrun (or another launcher) set the process-group variables."""
    return all(name in os.environ for name in TORCHRUN_VARIABLES)


@contextmanager
def distributed_session(device_name: str = "auto") -> Iterator[Distributed]:
    """Join torchrun's process group for the duration of a training run (or be one rank).

    The backend follows the device: NCCL for CUDA (each rank on ``cuda:LOCAL_RANK``),
    gloo otherwise. A session inside another one (a trainer called by a command
    that already joined) reuses the group and leaves it to the outer one. Ranks
    leave without a barrier: after the last step only rank 0 works (evaluation,
    registry) and it needs no collective, and a barrier would time out (30 min)
    behind a long evaluation.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1")) if under_torchrun() else 1
    if world_size == 1:
        yield Distributed(select_device(device_name))
        return
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    device = _rank_device(select_device(device_name), local_rank)
    joined = not dist.is_initialized()
    if joined:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                rank=rank, world_size=world_size)
    try:
        yield Distributed(device, rank, world_size, local_rank)
    finally:
        if joined:
            dist.destroy_process_group()


def _rank_device(device: torch.device, local_rank: int) -> torch.device:
    if device.type != "cuda":
        return device
    device = torch.device("cuda", local_rank)
    torch.cuda.set_device(device)
    return device
