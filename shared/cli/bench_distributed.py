"""``fittingroom bench distributed``: embedded vs gRPC TryOn vs the Kafka event path.

Drives a running local stack (``make infra-up up``) with concurrent clients and
prints end-to-end p50/p95, throughput, and each path's overhead over embedded.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import typer
from tqdm import tqdm

from fittingroom.cli.bench import percentile_ms
from fittingroom.chain import GATEWAY
from fittingroom.cli.client import gateway_channel, submit_and_watch
from fittingroom.cli.errors import cli_errors
from fittingroom.cli.tryon import build_pipeline
from fittingroom.images import SAMPLES_DIR, read_image
from fittingroom.settings import Settings
from fittingroom.training import save_figure
from fittingroom.v1 import tryon_pb2, tryon_pb2_grpc


def _drive(label: str, one: Callable[[], None], clients: int, requests: int) -> dict:
    """Run ``requests`` calls of ``one`` from ``clients`` threads; latency per call and throughput."""
    one()
    latencies: list[float] = []
    bar = tqdm(total=requests, desc=label, unit="req")

    def timed(_: int) -> None:
        start = time.perf_counter()
        one()
        latencies.append(time.perf_counter() - start)
        bar.update()

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(timed, range(requests)))
    wall = time.perf_counter() - start
    bar.close()
    return {"path": label, "clients": clients, "requests": requests, "p50_ms": percentile_ms(latencies, 50),
            "p95_ms": percentile_ms(latencies, 95), "throughput_rps": requests / wall}


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    x = np.arange(len(rows))
    names = [r["path"] for r in rows]
    left.bar(x - 0.2, [r["p50_ms"] for r in rows], 0.4, label="p50")
    left.bar(x + 0.2, [r["p95_ms"] for r in rows], 0.4, label="p95")
    left.set_xticks(x, names)
    left.set_ylabel("end-to-end ms")
    left.legend()
    right.bar(x, [r["throughput_rps"] for r in rows])
    right.set_xticks(x, names)
    right.set_ylabel("requests / s")
    fig.suptitle(f"Try-on paths, {rows[0]['clients']} concurrent clients")
    save_figure(fig, path, dpi=110)


def distributed(
    gateway: str = typer.Option(GATEWAY.local_address, help="Gateway of a running stack."),
    clients: int = typer.Option(4, min=1, help="Concurrent clients."),
    requests: int = typer.Option(40, min=2, help="Requests per path."),
    out_dir: Path = typer.Option(Path("out/bench"), help="Where distributed.json and distributed.png go."),
) -> None:
    """End-to-end latency and throughput of the three ways to run a try-on."""
    with cli_errors():
        person_bytes, style_bytes = (SAMPLES_DIR / "person.jpg").read_bytes(), (SAMPLES_DIR / "style.jpg").read_bytes()
        pipeline = build_pipeline(Settings.from_env())
        person, style = read_image(SAMPLES_DIR / "person.jpg"), read_image(SAMPLES_DIR / "style.jpg")
        request = tryon_pb2.TryOnRequest(person_image=person_bytes, style_image=style_bytes)
        with gateway_channel(gateway) as channel:
            stub = tryon_pb2_grpc.TryOnServiceStub(channel)
            rows = [
                _drive("embedded", lambda: pipeline.run(person, style), clients, requests),
                _drive("grpc", lambda: stub.TryOn(request, timeout=300), clients, requests),
                _drive("kafka", lambda: submit_and_watch(stub, request, 300, report=lambda _: None), clients, requests),
            ]
        base = rows[0]["p50_ms"]
        for row in rows:
            row["p50_vs_embedded"] = row["p50_ms"] / base
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "distributed.json").write_text(json.dumps(rows, indent=1))
        _plot(rows, out_dir / "distributed.png")
        print(f"{'path':<10} {'clients':>7} {'requests':>8} {'p50 ms':>9} {'p95 ms':>9} {'req/s':>7} {'p50 ×emb':>9}")
        for r in rows:
            print(f"{r['path']:<10} {r['clients']:>7} {r['requests']:>8} {r['p50_ms']:>9.0f} {r['p95_ms']:>9.0f} "
                  f"{r['throughput_rps']:>7.2f} {r['p50_vs_embedded']:>9.2f}")
        print(f"wrote {out_dir / 'distributed.json'} and {out_dir / 'distributed.png'}")

