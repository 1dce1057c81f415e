"""CPU time a local stack spends, read from ``/proc``: how much of the machine a request costs, and where.

On shared cores a path's throughput is bounded by the CPU one request costs all
processes together (the services, the broker, the object store and the caller),
not by its latency: ``fittingroom bench distributed`` reports both. Processes are
named by their role: each ``fittingroom.cli.serve <service>``, the Kafka broker,
MinIO, and ``bench`` (this process: the clients and the embedded pipeline). On a
system without ``/proc`` nothing is measured and the figures are absent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
BENCH = "bench"


def _role(cmdline: str) -> str | None:
    """A process's role in the local stack from its command line, or ``None`` for anything else."""
    if "fittingroom.cli.serve " in cmdline:
        return cmdline.split("fittingroom.cli.serve ", 1)[1].split()[0]
    if "kafka.Kafka " in cmdline:
        return "kafka"
    if "minio server " in cmdline:
        return "minio"
    return None


def _process_cpu_s(pid: str) -> float:
    """User plus system CPU seconds of one process (threads included), from ``/proc/<pid>/stat``."""
    fields = (PROC / pid / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_role() -> dict[str, float]:
    """CPU seconds used so far by each role's processes (several of one role are summed)."""
    used: dict[str, float] = {}
    me = str(os.getpid())
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            role = BENCH if entry.name == me else _role((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            if role is not None:
                used[role] = used.get(role, 0.0) + _process_cpu_s(entry.name)
        except (OSError, IndexError, ValueError):
            continue  # the process ended while being read
    return used


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (all cores; idle and I/O wait left out)."""
    values = [int(v) for v in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuMeter:
    """What the machine and each role spent between :meth:`start` and :meth:`per_request`."""

    machine_s: float = 0.0
    roles_s: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def available() -> bool:
        return (PROC / "stat").exists()

    def start(self) -> "CpuMeter":
        if self.available():
            self.machine_s, self.roles_s = machine_busy_s(), cpu_by_role()
        return self

    def per_request(self, requests: int) -> dict:
        """``{"cpu_ms_per_request": …, "cpu_ms_by_role": {role: …}}`` since :meth:`start`; empty without ``/proc``."""
        if not self.available() or requests <= 0:
            return {}
        now = cpu_by_role()
        by_role = {role: (used - self.roles_s.get(role, 0.0)) * 1000.0 / requests for role, used in now.items()}
        return {"cpu_ms_per_request": (machine_busy_s() - self.machine_s) * 1000.0 / requests,
                "cpu_ms_by_role": dict(sorted(by_role.items(), key=lambda item: -item[1]))}
