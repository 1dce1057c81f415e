"""Inference precision of a model: fp32, or bf16 autocast where it keeps parity with fp32.

bf16 autocast runs convolutions and matrix products in bfloat16 (fp32 accumulation
where the kernels allow) on CPUs with AVX-512 BF16 or AMX and on GPUs. Each model's
precision is a setting (``FITTINGROOM_SEGMENTATION_PRECISION``,
``FITTINGROOM_TRANSLATION_PRECISION``): ``auto`` (bf16 where the hardware runs it
natively, else fp32) only for models whose output was measured at parity with fp32
(``fittingroom bench batching``; issue 11 holds masks to IoU ≥ 0.98 and results to
PSNR ≥ 35 dB). On a CPU without bf16 instructions autocast would emulate it, slower
than fp32, so ``auto`` stays fp32 there. The stages read outputs as float32 either way.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache
from pathlib import Path
from typing import ContextManager

import torch

from fittingroom.settings import PRECISIONS


# CPU flags of native bf16 arithmetic (x86: AVX-512 BF16 or AMX; Arm: the BF16 extension).
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (read from ``/proc/cpuinfo``; False where absent)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = {flag for line in text.splitlines() if line.startswith(("flags", "Features"))
             for flag in line.split(":", 1)[1].split()}
    return any(flag in flags for flag in CPU_BF16_FLAGS)


def resolved_precision(device: torch.device | str, precision: str) -> str:
    """``fp32`` or ``bf16``: ``auto`` is bf16 where ``device`` runs it natively."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    if precision != "auto":
        return precision
    kind = torch.device(device).type
    native = torch.cuda.is_bf16_supported() if kind == "cuda" else kind == "cpu" and cpu_has_bf16()
    return "bf16" if native else "fp32"


def autocast_for(device: torch.device | str, precision: str) -> ContextManager:
    """The context a model's forward runs in at ``precision`` on ``device``."""
    if resolved_precision(device, precision) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
