"""Fixtures the model tests share: running a ``fittingroom`` command under torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fittingroom.ports import free_port

FITTINGROOM = Path(sys.executable).with_name("fittingroom")


@pytest.fixture
def torchrun():
    """``torchrun(["train", "style"], options, nproc)``: that command as ``nproc`` gloo ranks on 127.0.0.1.

    ``options`` become ``--flag value`` pairs. Each rank gets one torch thread (the
    machine has two cores); a failing rank fails the test with the end of its output.
    """

    def launch(command_words: list[str], options: dict, nproc: int = 2) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc-per-node={nproc}",
                   "--master-addr=127.0.0.1", f"--master-port={free_port()}", str(FITTINGROOM),
                   *command_words, *_cli_args(options)]
        env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        if result.returncode != 0:
            pytest.fail(f"torchrun exited {result.returncode}\n{_without_progress(result.stdout)[-3000:]}\n"
                        f"{_without_progress(result.stderr)[-6000:]}", pytrace=False)
        return result

    return launch


def _without_progress(output: str) -> str:
    """A rank's output without progress-bar redraws (the lines ``\\r`` overwrites), so its error shows whole."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in output.split("\n") if line.strip())


def _cli_args(options: dict) -> list[str]:
    """``--flag value`` pairs for options given as keyword arguments (booleans as ``--x/--no-x``)."""
    args: list[str] = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        else:
            args += [flag, str(value)]
    return args
