"""``fittingroom bench memory``: each service process's resident memory, and which heavy libraries it maps.

Starts a private Kafka and MinIO and the five services on them (nothing else is
touched), reads every process's ``/proc/<pid>/status`` once all report SERVING, then
sends try-ons through both doors (gRPC ``TryOn`` and Kafka ``Submit`` + ``Watch``)
and reads it again: resident set (VmRSS), its peak (VmHWM), and which of torch,
OpenCV, SciPy, scikit-image and matplotlib are mapped into the process
(``/proc/<pid>/maps``). The stack starts services the way images do
(``fittingroom-serve``); gateway and compositing are also started once through the
full CLI (``fittingroom serve``, gRPC only, local store), the other way to run them.
Prints a table and writes ``memory.json`` and ``memory.png``.
Memory is measured here; tests only check that the services without a model never
load torch (``tests/unit/test_lean_processes.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import grpc
import numpy as np
import typer

from fittingroom.cli.client import ApiKeyInterceptor, submit_and_watch
from fittingroom.cli.errors import cli_errors
from fittingroom.cli.localstack import SERVICES, Stack, start_infra, start_stack, stop_infra, wait_serving
from fittingroom.ports import free_port
from fittingroom.images import SAMPLES_DIR
from fittingroom.training import save_figure
from fittingroom.v1 import tryon_pb2, tryon_pb2_grpc

# Shared objects whose presence in /proc/<pid>/maps says a library was imported.
HEAVY_LIBRARIES = {
    "torch": "/torch/lib/",
    "cv2": "/cv2/",
    "scipy": "/scipy/",
    "skimage": "/skimage/",
    "matplotlib": "/matplotlib/",
}
PHASES = ("started", "after traffic", "started by fittingroom serve")
LEAN_SERVICES = ("compositing", "gateway")  # the services that run no model


def process_memory(pid: int) -> dict[str, float]:
    """Resident set now and at its peak, in MB, from ``/proc/<pid>/status``."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"rss_mb": int(fields["VmRSS"].split()[0]) / 1024, "peak_rss_mb": int(fields["VmHWM"].split()[0]) / 1024}


def mapped_libraries(pid: int) -> list[str]:
    """Which of :data:`HEAVY_LIBRARIES` the process has mapped (i.e. imported)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [name for name, marker in HEAVY_LIBRARIES.items() if marker in maps]


def snapshot(stack: Stack, phase: str) -> list[dict]:
    """One row per service of ``stack``: its memory and mapped heavy libraries at ``phase``."""
    rows = []
    for name, service in stack.services.items():
        pid = service.process.pid
        rows.append({"service": name, "phase": phase, **process_memory(pid), "libraries": mapped_libraries(pid)})
    return rows


def through_full_cli(work: Path) -> list[dict]:
    """Gateway and compositing started by ``fittingroom serve`` (gRPC only, local store), read once SERVING."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITTINGROOM_")}
    env.update(FITTINGROOM_STORE_DIR=str(work / "cli-store"), FITTINGROOM_TLS_PLAINTEXT="true",
               FITTINGROOM_ALLOW_ANONYMOUS="true", FITTINGROOM_LOG_LEVEL="WARNING")
    rows = []
    for name in LEAN_SERVICES:
        port = free_port()
        process = subprocess.Popen([sys.executable, "-m", "fittingroom.cli.main", "serve", name, "--no-worker",
                                    "--port", str(port), "--metrics-port", str(free_port())],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_serving(f"127.0.0.1:{port}", timeout_s=120)
            rows.append({"service": name, "phase": PHASES[2], **process_memory(process.pid),
                         "libraries": mapped_libraries(process.pid)})
        finally:
            process.terminate()
            process.wait(timeout=30)
    return rows


def send_traffic(stack: Stack, tryons: int) -> None:
    """``tryons`` try-ons over gRPC and as many over Kafka, so every stage serves both doors."""
    request = tryon_pb2.TryOnRequest(person_image=(SAMPLES_DIR / "person.jpg").read_bytes(),
                                     style_image=(SAMPLES_DIR / "style.jpg").read_bytes())
    with stack.channel(stack.gateway) as channel:
        stub = tryon_pb2_grpc.TryOnServiceStub(grpc.intercept_channel(channel, ApiKeyInterceptor(stack.api_key)))
        for _ in range(tryons):
            stub.TryOn(request, timeout=300)
            submit_and_watch(stub, request, 300, report=lambda _: None)


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    x = np.arange(len(SERVICES))
    for offset, phase in zip((-0.27, 0.0, 0.27), PHASES):
        by_service = {r["service"]: r["rss_mb"] for r in rows if r["phase"] == phase}
        heights = [by_service.get(s, np.nan) for s in SERVICES]
        bars = ax.bar(x + offset, heights, 0.27, label=phase)
        ax.bar_label(bars, labels=["" if np.isnan(h) else f"{h:.0f}" for h in heights], fontsize=7)
    ax.set_xticks(x, SERVICES)
    ax.set_ylabel("resident memory (MB)")
    ax.legend()
    ax.set_title("Resident memory per service process")
    save_figure(fig, path, dpi=110)


def print_table(rows: list[dict]) -> None:
    print(f"{'service':<13} {'phase':<28} {'RSS MB':>7} {'peak MB':>8}  heavy libraries mapped")
    for r in rows:
        print(f"{r['service']:<13} {r['phase']:<28} {r['rss_mb']:>7.0f} {r['peak_rss_mb']:>8.0f}  "
              f"{', '.join(r['libraries']) or '-'}")


def memory(
    tryons: int = typer.Option(3, min=1, help="Try-ons per door (gRPC and Kafka) before the second reading."),
    out_dir: Path = typer.Option(Path("out/bench"), help="Where memory.json and memory.png go."),
) -> None:
    """Resident memory of each service process, at start and after serving try-ons, in one run."""
    with cli_errors(), tempfile.TemporaryDirectory(prefix="fittingroom-bench-memory-") as work, ExitStack() as stop:
        infra_env = start_infra(Path(work) / "infra")
        stop.callback(stop_infra, infra_env)
        (Path(work) / "stack").mkdir()
        stack = start_stack(infra_env, Path(work) / "stack")
        stop.callback(stack.stop)
        rows = snapshot(stack, PHASES[0])
        send_traffic(stack, tryons)
        rows += snapshot(stack, PHASES[1])
        rows += through_full_cli(Path(work))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "memory.json").write_text(json.dumps(rows, indent=1))
    _plot(rows, out_dir / "memory.png")
    print_table(rows)
    print(f"wrote {out_dir / 'memory.json'} and {out_dir / 'memory.png'}")
