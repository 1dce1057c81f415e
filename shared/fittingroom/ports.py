"""Free loopback ports for local servers that must keep their port across a restart.

A port the kernel hands out for ``bind(0)`` comes from the ephemeral range, the same
range it draws the local port of every outgoing connection from. While a server is
stopped (a fault test restarts MinIO or Kafka on the same port), any client's new
connection, or a client's retry that connects to itself on the dead port, can take
that port, and the server cannot bind it again. So listening ports are drawn from
below (or above) the ephemeral range, where the kernel never picks one by itself.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PORT = 10000  # clear of well-known services and of common development ports
DEFAULT_EPHEMERAL = (32768, 60999)


def ephemeral_range(source: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int]:
    """The kernel's (first, last) ephemeral port; Linux's default where it cannot be read."""
    try:
        first, last = (int(part) for part in source.read_text().split())
        return first, last
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL


def listening_candidates(ephemeral: tuple[int, int]) -> range:
    """Ports outside ``ephemeral`` to draw listening ports from (the larger side of it)."""
    below = range(LOWEST_PORT, ephemeral[0])
    above = range(ephemeral[1] + 1, 65536)
    return below if len(below) >= len(above) else above


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports(count: int, ephemeral: tuple[int, int] | None = None) -> list[int]:
    """``count`` distinct loopback ports, outside the ephemeral range, free a moment ago.

    Drawn at random so that concurrent test sessions rarely try the same ones.
    """
    candidates = listening_candidates(ephemeral or ephemeral_range())
    chosen: list[int] = []
    for port in random.sample(candidates, min(len(candidates), 50 * count + 200)):
        if _bindable(port):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise OSError(f"no {count} free loopback ports in {candidates.start}-{candidates.stop - 1}")


def free_port() -> int:
    """One loopback port outside the ephemeral range that nobody listens on right now."""
    return free_ports(1)[0]
