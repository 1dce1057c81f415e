"""``fittingroom bench security``: what TLS, mutual TLS and API keys cost on the gRPC path.

Starts a private Kafka and MinIO (nothing else is touched) and two stacks of the five
services on them, side by side: one in plaintext with anonymous callers, one on TLS
(mutual TLS from the gateway to the stages) whose callers send an API key. Then it
alternates between the two, round by round and in turn first, so both see the same
load on the machine, and times three calls a shop makes:

- ``TryOn``: the whole chain over gRPC (the gateway calls the four stages);
- ``Get``: one cheap unary call through the key check, on a request submitted before;
- ``connect + Check``: a new channel and one health check (the TLS handshake, no key).

It prints p50/p95 of each call on each stack and their difference, and writes
``security.json`` and ``security.png``. Latency is measured here, never asserted in tests.
"""

from __future__ import annotations

import json
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import grpc
import numpy as np
import typer
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tqdm import tqdm

from fittingroom.cli.bench import percentile_ms
from fittingroom.cli.client import ApiKeyInterceptor, submit_and_watch
from fittingroom.cli.errors import cli_errors
from fittingroom.cli.localstack import Stack, open_local_channel, start_infra, start_stack, stop_infra
from fittingroom.images import SAMPLES_DIR
from fittingroom.training import save_figure
from fittingroom.v1 import tryon_pb2, tryon_pb2_grpc

PLAIN, SECURED = "plaintext, anonymous", "TLS + mTLS + API key"
CALLS = ("TryOn", "Get", "connect + Check")
# The same generous quotas on both stacks: the bench measures the transport, not the rate limiter.
UNLIMITED = {"FITTINGROOM_TENANT_RATE_PER_S": "1000000", "FITTINGROOM_TENANT_BURST": "1000000"}


@dataclass
class Side:
    """One stack as a shop reaches it: a channel to its gateway (with the key, when it has one)."""

    name: str
    stack: Stack
    shop_credentials: grpc.ChannelCredentials | None
    channel: grpc.Channel
    request_id: str = ""

    @classmethod
    def open(cls, name: str, stack: Stack) -> "Side":
        """Shops hold the CA only (the gateway's public port asks no client certificate) and their key."""
        credentials = (grpc.ssl_channel_credentials(stack.tls["client"].ca.read_bytes()) if stack.tls else None)
        channel = open_local_channel(stack.gateway, credentials)
        if stack.api_key:
            channel = grpc.intercept_channel(channel, ApiKeyInterceptor(stack.api_key))
        return cls(name, stack, credentials, channel)

    def calls(self, request: tryon_pb2.TryOnRequest) -> dict[str, Callable[[], object]]:
        stub = tryon_pb2_grpc.TryOnServiceStub(self.channel)
        return {
            "TryOn": lambda: stub.TryOn(request, timeout=300),
            "Get": lambda: stub.Get(tryon_pb2.GetRequest(request_id=self.request_id), timeout=30),
            "connect + Check": self.connect_and_check,
        }

    def connect_and_check(self) -> None:
        with open_local_channel(self.stack.gateway, self.shop_credentials) as channel:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=30)

    def warm_up(self, request: tryon_pb2.TryOnRequest, tryons: int) -> None:
        """Load every path once: a few TryOns, and one Submit followed to its end (the id Get reads)."""
        stub = tryon_pb2_grpc.TryOnServiceStub(self.channel)
        for _ in range(tryons):
            stub.TryOn(request, timeout=300)
        self.request_id = submit_and_watch(stub, request, 300, report=lambda _: None).request_id


def _time_calls(fn: Callable[[], object], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def measure(sides: list[Side], request: tryon_pb2.TryOnRequest, rounds: int, tryons: int, calls: int) -> dict:
    """Samples per side and call: ``rounds`` rounds, the sides taking turns to go first."""
    samples = {side.name: {call: [] for call in CALLS} for side in sides}
    counts = {call: max(1, (tryons if call == "TryOn" else calls) // rounds) for call in CALLS}
    bar = tqdm(total=rounds * len(sides), desc="rounds", unit="side")
    for number in range(rounds):
        for side in sides if number % 2 == 0 else reversed(sides):
            for call, fn in side.calls(request).items():
                samples[side.name][call] += _time_calls(fn, counts[call])
            bar.update()
    bar.close()
    return samples


def summarise(samples: dict) -> list[dict]:
    """One row per call: p50/p95 per side, and what the secured side adds at p50."""
    rows = []
    for call in CALLS:
        plain, secured = samples[PLAIN][call], samples[SECURED][call]
        row = {"call": call, "n": len(plain)}
        for label, values in (("plain", plain), ("secured", secured)):
            row[f"{label}_p50_ms"] = percentile_ms(values, 50)
            row[f"{label}_p95_ms"] = percentile_ms(values, 95)
        row["p50_added_ms"] = row["secured_p50_ms"] - row["plain_p50_ms"]
        row["p50_ratio"] = row["secured_p50_ms"] / row["plain_p50_ms"]
        rows.append(row)
    return rows


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows), figsize=(4 * len(rows), 4))
    for ax, row in zip(axes, rows):
        x = np.arange(2)
        ax.bar(x - 0.2, [row["plain_p50_ms"], row["secured_p50_ms"]], 0.4, label="p50")
        ax.bar(x + 0.2, [row["plain_p95_ms"], row["secured_p95_ms"]], 0.4, label="p95")
        ax.set_xticks(x, ["plaintext\nanonymous", "TLS + mTLS\nAPI key"])
        ax.set_title(f"{row['call']} (n={row['n']} each)")
        ax.set_ylabel("ms")
        ax.set_ylim(0, 1.3 * max(row["plain_p95_ms"], row["secured_p95_ms"]))
        ax.legend(loc="upper left", ncol=2)
    fig.suptitle("The cost of TLS and auth on the gRPC path, same run")
    save_figure(fig, path, dpi=110)


def print_table(rows: list[dict]) -> None:
    print(f"{'call':<16} {'n':>4} {'plain p50':>10} {'p95':>8} {'secured p50':>12} {'p95':>8} {'+p50 ms':>8} {'×p50':>6}")
    for r in rows:
        print(f"{r['call']:<16} {r['n']:>4} {r['plain_p50_ms']:>10.2f} {r['plain_p95_ms']:>8.2f} "
              f"{r['secured_p50_ms']:>12.2f} {r['secured_p95_ms']:>8.2f} {r['p50_added_ms']:>8.2f} {r['p50_ratio']:>6.2f}")


def security(
    rounds: int = typer.Option(5, min=1, help="Rounds; the two stacks take turns within each."),
    tryons: int = typer.Option(20, min=1, help="TryOn calls per stack (spread over the rounds)."),
    calls: int = typer.Option(200, min=1, help="Get and connect + Check calls per stack (spread over the rounds)."),
    out_dir: Path = typer.Option(Path("out/bench"), help="Where security.json and security.png go."),
) -> None:
    """p50/p95 of TryOn, Get and a new connection, plaintext + anonymous vs TLS + mTLS + API key, in one run."""
    with cli_errors(), tempfile.TemporaryDirectory(prefix="fittingroom-bench-security-") as work, ExitStack() as stop:
        infra_env = start_infra(Path(work) / "infra")
        stop.callback(stop_infra, infra_env)
        env = {**infra_env, **UNLIMITED}
        stacks = {}
        for name, folder, security_on in ((PLAIN, "plain", False), (SECURED, "secured", True)):
            (Path(work) / folder).mkdir()
            stacks[name] = start_stack(env, Path(work) / folder, tls=security_on, anonymous=not security_on)
            stop.callback(stacks[name].stop)
        sides = [Side.open(name, stack) for name, stack in stacks.items()]
        request = tryon_pb2.TryOnRequest(person_image=(SAMPLES_DIR / "person.jpg").read_bytes(),
                                         style_image=(SAMPLES_DIR / "style.jpg").read_bytes())
        for side in sides:
            side.warm_up(request, tryons=2)
        rows = summarise(measure(sides, request, rounds, tryons, calls))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "security.json").write_text(json.dumps(rows, indent=1))
    _plot(rows, out_dir / "security.png")
    print_table(rows)
    print(f"wrote {out_dir / 'security.json'} and {out_dir / 'security.png'}")
