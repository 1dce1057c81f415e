"""Services that run no model (gateway, compositing) never load torch.

Started the way images and ``make up`` start them (``fittingroom-serve <name>``),
or through the full CLI (``fittingroom serve <name>``, which has imported torch and
re-executes as the former), each must report SERVING on gRPC health without
libtorch mapped into the process, within the 200 MB resident set issue 11 asks for.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fittingroom.ports import free_port


def _serving(port: int) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


ENTRY_POINTS = {"fittingroom-serve": ["-m", "fittingroom.cli.serve"], "fittingroom serve": ["-m", "fittingroom.cli.main", "serve"]}
RSS_LIMIT_KB = 200 * 1024


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("service", ["gateway", "compositing"])
def test_a_service_without_models_does_not_load_torch(service, entry, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITTINGROOM_")}
    env.update(FITTINGROOM_STORE_DIR=str(tmp_path), FITTINGROOM_LOG_LEVEL="WARNING",
               FITTINGROOM_TLS_PLAINTEXT="true", FITTINGROOM_ALLOW_ANONYMOUS="true")
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen([sys.executable, *ENTRY_POINTS[entry], service, "--no-worker",
                                "--port", str(port), "--metrics-port", str(free_port())],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _serving(port):
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "never reported SERVING"
            time.sleep(0.2)
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        assert "libtorch" not in maps
        rss_kb = int(next(line.split()[1] for line in Path(f"/proc/{process.pid}/status").read_text().splitlines()
                          if line.startswith("VmRSS:")))
        assert rss_kb < RSS_LIMIT_KB, f"{service} resident set {rss_kb / 1024:.0f} MB"
    finally:
        process.terminate()
        process.wait(timeout=30)
