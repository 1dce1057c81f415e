"""Listening ports for restartable local servers come from outside the ephemeral range."""

from __future__ import annotations

import socket

import pytest

from fittingroom.ports import ephemeral_range, free_ports, listening_candidates


def test_the_kernels_range_is_read_and_a_missing_file_falls_back_to_linuxs_default(tmp_path):
    source = tmp_path / "ip_local_port_range"
    source.write_text("40000\t50000\n")
    assert ephemeral_range(source) == (40000, 50000)
    assert ephemeral_range(tmp_path / "absent") == (32768, 60999)


@pytest.mark.parametrize("ephemeral", [(32768, 60999), (15000, 65000), (1024, 40000)])
def test_ports_are_never_drawn_from_the_ephemeral_range(ephemeral):
    ports = free_ports(20, ephemeral)
    assert len(set(ports)) == 20
    assert not any(ephemeral[0] <= port <= ephemeral[1] for port in ports), ports
    assert all(port in listening_candidates(ephemeral) for port in ports)


def test_a_port_in_use_is_not_offered():
    ephemeral = ephemeral_range()
    candidates = listening_candidates(ephemeral)
    with socket.socket() as holder:
        taken = free_ports(1, ephemeral)[0]
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        for _ in range(20):
            assert taken not in free_ports(len(candidates) // 400, ephemeral)
