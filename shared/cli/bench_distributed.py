"""``fittingroom bench distributed``: embedded vs gRPC TryOn vs the Kafka event path.

Drives a running local stack (``make infra-up up``) at each load given (by default
1 client, where the latency a hop adds shows, then 4, where throughput on shared
cores does) and prints end-to-end p50/p95, throughput, and each path's p50 and
throughput relative to embedded at the same load; then the CPU one request cost the
whole machine and each process of the stack (:mod:`fittingroom.cli.cpu_usage`), which
bounds a path's throughput on shared cores.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import grpc
import numpy as np
import typer
from tqdm import tqdm

from fittingroom.cli.bench import percentile_ms
from fittingroom.chain import GATEWAY
from fittingroom.cli.client import gateway_channel, submit_and_watch
from fittingroom.cli.cpu_usage import CpuMeter
from fittingroom.cli.errors import cli_errors
from fittingroom.cli.tryon import build_pipeline
from fittingroom.images import SAMPLES_DIR, read_image
from fittingroom.settings import Settings
from fittingroom.training import save_figure
from fittingroom.v1 import tryon_pb2, tryon_pb2_grpc


def _failure(exc: Exception) -> str:
    """What a failed call is counted as: its gRPC status code, else its exception type."""
    code = exc.code() if isinstance(exc, grpc.RpcError) else None
    return code.name if code is not None else type(exc).__name__


def drive(label: str, one: Callable[[], None], clients: int, requests: int) -> dict:
    """Run ``requests`` calls of ``one`` from ``clients`` threads (after one warm-up call).

    Latency percentiles are over the calls that succeeded; throughput counts only
    those; a failed call is counted by kind (``failures``), never raised, so an
    overloaded path shows as failures in the table rather than ending the run.
    CPU per request (the machine's and each role's) is over every call made.
    """
    one()
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    bar = tqdm(total=requests, desc=f"{label} ×{clients}", unit="req")

    def timed(_: int) -> None:
        start = time.perf_counter()
        try:
            one()
            latencies.append(time.perf_counter() - start)
        except Exception as exc:  # noqa: BLE001 - counted, not raised
            failures[_failure(exc)] += 1
        bar.update()

    meter = CpuMeter().start()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(timed, range(requests)))
    wall = time.perf_counter() - start
    bar.close()
    done = latencies or [float("nan")]
    return {"path": label, "clients": clients, "requests": requests, "p50_ms": percentile_ms(done, 50),
            "p95_ms": percentile_ms(done, 95), "throughput_rps": len(latencies) / wall,
            "failures": dict(failures), **meter.per_request(requests)}


def _relative(rows: list[dict]) -> list[dict]:
    """One load's rows, each with its p50 and throughput relative to embedded's (the first row)."""
    base = rows[0]
    for row in rows:
        row["p50_vs_embedded"] = row["p50_ms"] / base["p50_ms"]
        row["throughput_vs_embedded"] = row["throughput_rps"] / base["throughput_rps"]
    return rows


def _print_table(rows: list[dict]) -> None:
    print(f"{'path':<10} {'clients':>7} {'requests':>8} {'p50 ms':>9} {'p95 ms':>9} {'req/s':>7} {'p50 ×emb':>9} "
          f"{'req/s ×emb':>10}  failures")
    for r in rows:
        print(f"{r['path']:<10} {r['clients']:>7} {r['requests']:>8} {r['p50_ms']:>9.0f} {r['p95_ms']:>9.0f} "
              f"{r['throughput_rps']:>7.2f} {r['p50_vs_embedded']:>9.2f} {r['throughput_vs_embedded']:>10.2f}  "
              f"{failure_text(r['failures'])}")


def _print_cpu(rows: list[dict], roles_shown: int = 6) -> None:
    """CPU ms one request cost the machine, and the roles that spent most of it."""
    if not any("cpu_ms_per_request" in r for r in rows):
        return
    print(f"\n{'path':<10} {'clients':>7} {'CPU ms/req':>10}  by process (ms/req)")
    for r in rows:
        if "cpu_ms_per_request" in r:
            roles = ", ".join(f"{role} {ms:.0f}" for role, ms in list(r["cpu_ms_by_role"].items())[:roles_shown])
            print(f"{r['path']:<10} {r['clients']:>7} {r['cpu_ms_per_request']:>10.0f}  {roles}")


def failure_text(failures: dict[str, int]) -> str:
    """``none``, or each kind of failure with its count."""
    return ", ".join(f"{kind} {n}" for kind, n in sorted(failures.items())) or "none"


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with_cpu = all("cpu_ms_by_role" in r for r in rows)
    fig, axes = plt.subplots(1, 3 if with_cpu else 2, figsize=(15 if with_cpu else 10, 4))
    left, right = axes[0], axes[1]
    x = np.arange(len(rows))
    names = [f"{r['path']}\n×{r['clients']}" for r in rows]
    left.bar(x - 0.2, [r["p50_ms"] for r in rows], 0.4, label="p50")
    left.bar(x + 0.2, [r["p95_ms"] for r in rows], 0.4, label="p95")
    left.set_xticks(x, names)
    left.set_ylabel("end-to-end ms")
    left.legend()
    right.bar(x, [r["throughput_rps"] for r in rows])
    right.set_xticks(x, names)
    right.set_ylabel("requests / s")
    if with_cpu:
        _plot_cpu(axes[2], rows, x, names)
    fig.suptitle("Try-on paths by concurrent clients")
    save_figure(fig, path, dpi=110)


def _plot_cpu(ax, rows: list[dict], x: np.ndarray, names: list[str]) -> None:
    """CPU ms per request, stacked by the process that spent it."""
    roles = sorted({role for r in rows for role in r["cpu_ms_by_role"]})
    bottom = np.zeros(len(rows))
    for role in roles:
        spent = np.array([max(r["cpu_ms_by_role"].get(role, 0.0), 0.0) for r in rows])
        ax.bar(x, spent, 0.6, bottom=bottom, label=role)
        bottom += spent
    ax.set_xticks(x, names)
    ax.set_ylabel("CPU ms per request")
    ax.legend(fontsize=7)


def distributed(
    gateway: str = typer.Option(GATEWAY.local_address, help="Gateway of a running stack."),
    clients: list[int] = typer.Option([1, 4], min=1, help="Concurrent clients; repeat for several loads, each run in turn."),
    requests: int = typer.Option(40, min=2, help="Requests per path and load."),
    out_dir: Path = typer.Option(Path("out/bench"), help="Where distributed.json and distributed.png go."),
) -> None:
    """End-to-end latency and throughput of the three ways to run a try-on."""
    with cli_errors():
        person_bytes, style_bytes = (SAMPLES_DIR / "person.jpg").read_bytes(), (SAMPLES_DIR / "style.jpg").read_bytes()
        pipeline = build_pipeline(Settings.from_env())
        person, style = read_image(SAMPLES_DIR / "person.jpg"), read_image(SAMPLES_DIR / "style.jpg")
        request = tryon_pb2.TryOnRequest(person_image=person_bytes, style_image=style_bytes)
        paths = {"embedded": lambda: pipeline.run(person, style)}
        with gateway_channel(gateway) as channel:
            stub = tryon_pb2_grpc.TryOnServiceStub(channel)
            paths["grpc"] = lambda: stub.TryOn(request, timeout=300)
            paths["kafka"] = lambda: submit_and_watch(stub, request, 300, report=lambda _: None)
            rows = [row for load in clients for row in _relative([drive(label, one, load, requests)
                                                                  for label, one in paths.items()])]
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "distributed.json").write_text(json.dumps(rows, indent=1))
        _plot(rows, out_dir / "distributed.png")
        _print_table(rows)
        _print_cpu(rows)
        print(f"wrote {out_dir / 'distributed.json'} and {out_dir / 'distributed.png'}")

