"""Fixtures for the deployment checks: the real helm binary, one render per
values profile, and a live /metrics scrape of the five services.

Nothing here needs a cluster or a Docker engine: charts are linted and rendered
with helm, objects validated against schemas, services run as local processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from fittingroom.ports import free_port

# Tests import the shared helpers as `deploy_support` (pytest runs with --import-mode=importlib).
sys.path.insert(0, str(Path(__file__).parent))

from deploy_support import ALL_PROFILES, CHART, REPO, SERVICES, template  # noqa: E402


@pytest.fixture(scope="session")
def helm() -> str:
    """Path of the pinned helm binary, built once by shared/infra/fetch-helm.sh."""
    out = subprocess.run(["bash", str(REPO / "shared" / "infra" / "fetch-helm.sh")],
                         check=True, capture_output=True, text=True, timeout=900)
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def rendered(helm: str) -> dict[str, list[dict]]:
    """Profile name -> every object `helm template` renders for it (rendered once)."""
    result = {}
    for name, args in ALL_PROFILES.items():
        out = template(helm, *args)
        assert out.returncode == 0, f"helm template ({name}) failed:\n{out.stderr}"
        result[name] = [doc for doc in yaml.safe_load_all(out.stdout) if doc]
    return result


@pytest.fixture(scope="session")
def values() -> dict:
    """The chart's default values.yaml."""
    return yaml.safe_load((CHART / "values.yaml").read_text())


def _scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


@dataclass
class Started:
    name: str
    process: subprocess.Popen
    metrics_port: int
    log: Path


def _start(name: str, store: Path, logs: Path) -> Started:
    grpc_port, metrics_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITTINGROOM_")}
    # Loopback, scraped for metric names only: explicit plaintext and no shop keys.
    env.update(FITTINGROOM_STORE_DIR=str(store), FITTINGROOM_DEVICE="cpu", FITTINGROOM_LOG_LEVEL="WARNING",
               OMP_NUM_THREADS="1", FITTINGROOM_TLS_PLAINTEXT="true", FITTINGROOM_ALLOW_ANONYMOUS="true")
    log = logs / f"{name}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "fittingroom.cli.serve", name, "--no-worker",
         "--port", str(grpc_port), "--metrics-port", str(metrics_port)],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    return Started(name, process, metrics_port, log)


def _wait_for_scrape(started: Started, deadline: float) -> str:
    while time.monotonic() < deadline:
        text = _scrape(started.metrics_port)
        if text is not None:
            return text
        if started.process.poll() is not None:
            raise AssertionError(f"`fittingroom-serve {started.name}` exited before /metrics answered:\n"
                                 f"{started.log.read_text()[-3000:]}")
        time.sleep(0.2)
    raise AssertionError(f"/metrics of {started.name} did not answer in time:\n{started.log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def live_metrics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Service -> the text of its /metrics, from real `fittingroom-serve <svc> --no-worker` processes."""
    store = tmp_path_factory.mktemp("store")
    logs = tmp_path_factory.mktemp("serve-logs")
    started = [_start(name, store, logs) for name in SERVICES]
    try:
        deadline = time.monotonic() + 120
        return {s.name: _wait_for_scrape(s, deadline) for s in started}
    finally:
        for s in started:
            if s.process.poll() is None:
                os.killpg(s.process.pid, signal.SIGTERM)
        for s in started:
            try:
                s.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(s.process.pid, signal.SIGKILL)
                s.process.wait()
