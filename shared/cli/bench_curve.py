"""``fittingroom bench curve``: how latency and throughput grow with photo size and with load.

Drives the three ways to run a try-on (embedded, gRPC ``TryOn``, Kafka ``Submit`` +
``Watch``) against a running local stack (``make infra-up up``), in two sweeps:

- **size**, at 1 client: each photo size from 512² to 2048×1536, where a try-on's cost
  against its pixel count shows. Latency should grow no worse than linearly in pixels:
  the growth exponent (log of the p50 ratio over log of the pixel ratio, against the
  smallest size) is at most 1.
- **load**, at one size: 1, 2, 4, 8 and 16 concurrent clients, where saturation on
  shared cores shows. Throughput should level off rather than collapse (at the most
  clients it keeps at least :data:`SATURATION_KEPT` of its peak), and overload should
  show as waiting, not as failed calls.

Prints both tables with those verdicts and writes ``curve.json`` and ``curve.png``.
Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import typer

from fittingroom.chain import GATEWAY
from fittingroom.cli.bench_distributed import drive, failure_text
from fittingroom.cli.client import gateway_channel, submit_and_watch
from fittingroom.cli.errors import cli_errors
from fittingroom.cli.tryon import build_pipeline
from fittingroom.images import SAMPLES_DIR, decode_image, encode_image, read_image
from fittingroom.settings import Settings
from fittingroom.training import save_figure
from fittingroom.v1 import tryon_pb2, tryon_pb2_grpc

SIZES = ("512x512", "1024x768", "1536x1152", "2048x1536")
CLIENTS = (1, 2, 4, 8, 16)
PATHS = ("embedded", "grpc", "kafka")
# Throughput at the most clients must keep this share of the sweep's peak to count as saturating.
SATURATION_KEPT = 0.8


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def _photo(person: np.ndarray, size: str) -> tuple[np.ndarray, bytes]:
    """The sample shopper at ``size``, as the JPEG a shop would send and the pixels it decodes to."""
    data = encode_image(cv2.resize(person, _size(size), interpolation=cv2.INTER_CUBIC), fmt="jpeg")
    return decode_image(data), data


def _paths(pipeline, stub, person: tuple[np.ndarray, bytes], style: tuple[np.ndarray, bytes]) -> dict[str, Callable]:
    """One try-on by each path, on the same pixels."""
    request = tryon_pb2.TryOnRequest(person_image=person[1], style_image=style[1])
    return {
        "embedded": lambda: pipeline.run(person[0], style[0]),
        "grpc": lambda: stub.TryOn(request, timeout=300),
        "kafka": lambda: submit_and_watch(stub, request, 300, report=lambda _: None),
    }


def growth_exponent(rows: list[dict]) -> float:
    """How p50 grows with pixels from the smallest size to the largest: 1 is linear, below 1 sublinear."""
    first, last = rows[0], rows[-1]
    return math.log(last["p50_ms"] / first["p50_ms"]) / math.log(last["pixels"] / first["pixels"])


def kept_at_most_clients(rows: list[dict]) -> float:
    """Throughput at the most clients as a share of the sweep's peak."""
    peak = max(r["throughput_rps"] for r in rows)
    return rows[-1]["throughput_rps"] / peak if peak else 0.0


def _print_sizes(rows: list[dict]) -> None:
    print(f"\n{'path':<10} {'size':>10} {'Mpx':>6} {'p50 ms':>8} {'p95 ms':>8}  failures")
    for r in rows:
        print(f"{r['path']:<10} {r['size']:>10} {r['pixels'] / 1e6:>6.2f} {r['p50_ms']:>8.0f} {r['p95_ms']:>8.0f}  "
              f"{failure_text(r['failures'])}")
    for path in PATHS:
        exponent = growth_exponent([r for r in rows if r["path"] == path])
        verdict = "no worse than linear" if exponent <= 1.0 else "WORSE than linear"
        print(f"{path}: p50 grows as pixels^{exponent:.2f} ({verdict})")


def _print_loads(rows: list[dict]) -> None:
    print(f"\n{'path':<10} {'clients':>7} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>7}  failures")
    for r in rows:
        print(f"{r['path']:<10} {r['clients']:>7} {r['p50_ms']:>8.0f} {r['p95_ms']:>8.0f} {r['throughput_rps']:>7.2f}  "
              f"{failure_text(r['failures'])}")
    for path in PATHS:
        ours = [r for r in rows if r["path"] == path]
        kept = kept_at_most_clients(ours)
        failed = sum(sum(r["failures"].values()) for r in ours)
        verdict = "saturates" if kept >= SATURATION_KEPT else "falls off"
        print(f"{path}: at {ours[-1]['clients']} clients {kept:.0%} of peak throughput ({verdict}); "
              f"{failed} failed calls")


def _plot(sizes: list[dict], loads: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in PATHS:
        ours = [r for r in sizes if r["path"] == name]
        left.plot([r["pixels"] / 1e6 for r in ours], [r["p50_ms"] for r in ours], marker="o", label=name)
        loaded = [r for r in loads if r["path"] == name]
        right.plot([r["clients"] for r in loaded], [r["throughput_rps"] for r in loaded], marker="o", label=name)
    first = [r for r in sizes if r["path"] == "embedded"]
    mpx = np.array([r["pixels"] / 1e6 for r in first])
    left.plot(mpx, first[0]["p50_ms"] * mpx / mpx[0], linestyle=":", color="grey", label="linear from embedded")
    left.set(xscale="log", yscale="log", xlabel="megapixels", ylabel="p50 ms (1 client)", title="Latency by photo size")
    left.set_xticks(mpx, [f"{m:.2f}" for m in mpx])
    left.set_xticks([], minor=True)
    right.set(xscale="log", xlabel="concurrent clients", ylabel="completed requests / s",
              title=f"Throughput by load ({loads[0]['size']})")
    right.set_xticks(sorted({r["clients"] for r in loads}), [str(c) for c in sorted({r["clients"] for r in loads})])
    for axis in (left, right):
        axis.legend()
    save_figure(fig, path, dpi=110)


def curve(
    gateway: str = typer.Option(GATEWAY.local_address, help="Gateway of a running stack."),
    sizes: str = typer.Option(",".join(SIZES), help="Comma-separated photo sizes (WxH) for the size sweep."),
    clients: str = typer.Option(",".join(map(str, CLIENTS)), help="Comma-separated client counts for the load sweep."),
    load_size: str = typer.Option("1024x768", help="Photo size (WxH) of the load sweep."),
    requests: int = typer.Option(8, min=2, help="Requests per point of the size sweep; the load sweep sends "
                                             "max(this, 2 × clients)."),
    out_dir: Path = typer.Option(Path("out/bench"), help="Where curve.json and curve.png go."),
) -> None:
    """Latency against photo size, and throughput against concurrent clients, for all three paths."""
    with cli_errors():
        pipeline = build_pipeline(Settings.from_env())
        person = read_image(SAMPLES_DIR / "person.jpg")
        style_bytes = (SAMPLES_DIR / "style.jpg").read_bytes()
        style = (decode_image(style_bytes), style_bytes)
        size_rows, load_rows = [], []
        with gateway_channel(gateway) as channel:
            stub = tryon_pb2_grpc.TryOnServiceStub(channel)
            for size in sizes.split(","):
                paths = _paths(pipeline, stub, _photo(person, size), style)
                width, height = _size(size)
                size_rows += [{**drive(name, one, 1, requests), "size": size, "pixels": width * height}
                              for name, one in paths.items()]
            paths = _paths(pipeline, stub, _photo(person, load_size), style)
            for load in (int(c) for c in clients.split(",")):
                load_rows += [{**drive(name, one, load, max(requests, 2 * load)), "size": load_size}
                              for name, one in paths.items()]
        size_rows.sort(key=lambda r: (PATHS.index(r["path"]), r["pixels"]))
        load_rows.sort(key=lambda r: (PATHS.index(r["path"]), r["clients"]))
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "curve.json").write_text(json.dumps({"sizes": size_rows, "loads": load_rows}, indent=1))
        _plot(size_rows, load_rows, out_dir / "curve.png")
        _print_sizes(size_rows)
        _print_loads(load_rows)
        print(f"wrote {out_dir / 'curve.json'} and {out_dir / 'curve.png'}")
