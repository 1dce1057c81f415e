"""Every dashboard panel returns data from a real Prometheus scraping the five real services.

A Prometheus (built once with ``go install``, fittingroom.cli.observe) scrapes the
session stack every second with the chart's rendered alert rules loaded. Two rounds
of the traffic an operator would see go through the stack: gRPC TryOn calls, Kafka
Submits, a corrupt image and an unparsable Kafka message, so the failure and
dead-letter panels have something to show. Every panel's PromQL, with the dashboard's
``$variables`` resolved from Prometheus as Grafana would, must then return at least
one series with a finite value. The table of results and a ``dashboard snapshot`` PNG
are written to out/observe-live/.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc
import pytest

from fittingroom.bus import make_producer, publish
from fittingroom.cli.client import ApiKeyInterceptor
from fittingroom.cli.dashboard import load_dashboard, panel_queries, resolve_variables, substitute
from fittingroom.cli.localstack import REPO
from fittingroom.cli.observe import (
    JOB, Prometheus, all_targets_up, alert_names, finite_values, stack_targets, start_prometheus, wait_until,
)
from fittingroom.images import SAMPLES_DIR
from fittingroom.v1 import events_pb2, tryon_pb2, tryon_pb2_grpc

SCRAPE_INTERVAL_S = 1
ROUNDS = 2
OUT = REPO / "out" / "observe-live"
FINAL = (events_pb2.COMPLETED, events_pb2.FAILED)


@pytest.fixture(scope="module")
def prometheus(stack, tmp_path_factory) -> Prometheus:
    """Prometheus scraping the stack's five /metrics ports with the chart's rules; every target up."""
    targets = stack_targets(stack)
    running = start_prometheus(tmp_path_factory.mktemp("prometheus"), targets, f"{SCRAPE_INTERVAL_S}s")
    try:
        wait_until(lambda: all_targets_up(running, len(targets)), 60, "every service scraped")
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def client(stack):
    with stack.channel(stack.gateway) as channel:
        yield tryon_pb2_grpc.TryOnServiceStub(grpc.intercept_channel(channel, ApiKeyInterceptor(stack.api_key)))


def _count(prometheus: Prometheus, expr: str) -> float:
    """The value of a scalar-like query now (0 when it has no series yet)."""
    values = finite_values(prometheus.query(expr))
    return sum(values) if values else 0.0


def _wait_final(client, request_id: str, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if client.Get(tryon_pb2.GetRequest(request_id=request_id), timeout=5).stage in FINAL:
                return
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
        time.sleep(0.3)
    raise TimeoutError(f"{request_id} did not finish in {timeout_s}s")


def _one_round(client, stack) -> None:
    """A TryOn, two Submits to completion, a corrupt image and an unparsable Kafka message."""
    person, style = (SAMPLES_DIR / "person.jpg").read_bytes(), (SAMPLES_DIR / "style.jpg").read_bytes()
    client.TryOn(tryon_pb2.TryOnRequest(person_image=person, style_image=style), timeout=180)
    with pytest.raises(grpc.RpcError):
        client.TryOn(tryon_pb2.TryOnRequest(person_image=person[:300], style_image=b"not an image"), timeout=30)
    ids = [client.Submit(tryon_pb2.TryOnRequest(person_image=person, style_image=style), timeout=30).request_id
           for _ in range(2)]
    producer = make_producer(stack.env["FITTINGROOM_KAFKA_BOOTSTRAP"], client_id="test-dashboard-live")
    publish(producer, "tryon.requests", f"garbage-{uuid.uuid4().hex[:8]}", b"\xff\x00 not protobuf")
    producer.close()
    for request_id in ids:
        _wait_final(client, request_id)


@pytest.fixture(scope="module")
def traffic(prometheus, client, stack) -> None:
    """ROUNDS rounds of traffic, each one seen by Prometheus before the next (so every counter has a rate)."""
    for round_ in range(1, ROUNDS + 1):
        _one_round(client, stack)
        wait_until(lambda: _count(prometheus, 'sum(fittingroom_kafka_messages_total{result="dlq"})') >= round_
                   and _count(prometheus, 'sum(fittingroom_end_to_end_latency_seconds_count'
                                          '{service="compositing", outcome="ok"})') >= 2 * round_
                   and _count(prometheus, 'sum(fittingroom_requests_total'
                                          '{service="gateway", outcome!="ok"})') >= round_,
                   120, f"round {round_} of traffic in Prometheus")
    done = time.time()
    wait_until(lambda: _count(prometheus, f'min(timestamp(up{{job="{JOB}"}}))') > done + SCRAPE_INTERVAL_S,
               30, "a scrape of every service after the traffic")


def test_prometheus_evaluates_the_charts_alert_rules(prometheus, tmp_path):
    """The alerts Prometheus loaded are the chart's, and each evaluates without error."""
    from fittingroom.cli.observe import render_rules

    expected = alert_names(render_rules(tmp_path / "rules.yaml"))
    wait_until(lambda: all(r["health"] == "ok" for r in prometheus.alerting_rules()), 30, "rules evaluated")
    assert [r["name"] for r in prometheus.alerting_rules()] == expected


def test_every_dashboard_panel_returns_data(prometheus, traffic):
    dashboard = load_dashboard()
    variables = resolve_variables(dashboard, prometheus)
    # $__rate_interval covers everything since Prometheus started: the traffic, and the scrapes before it.
    window = f"{math.ceil(time.time() - prometheus.started) + 2 * SCRAPE_INTERVAL_S}s"
    rows, empty = [], []
    for query in panel_queries(dashboard):
        expr = substitute(query.expr, variables, window)
        result = prometheus.query(expr)
        values = finite_values(result)
        rows.append((query.panel, query.legend, expr, len(result), max(values) if values else math.nan))
        if not values:
            empty.append(f"{query.panel} [{query.legend}]: {expr} -> {result}")
    _write_table(rows, variables, window)
    assert not empty, "panels without data:\n" + "\n".join(empty)


def test_dashboard_snapshot_draws_the_main_panels(prometheus, traffic):
    out = OUT / "dashboard.png"
    minutes = (time.time() - prometheus.started) / 60
    subprocess.run([sys.executable, "-m", "fittingroom.cli.main", "dashboard", "snapshot",
                    "--prometheus", prometheus.url, "--out", str(out), "--minutes", f"{minutes:.2f}",
                    "--step", "2", "--rate-interval", "20s"], check=True, timeout=120)
    assert out.stat().st_size > 10_000


def _write_table(rows: list[tuple], variables: dict[str, str], window: str) -> Path:
    """The panel-query table in Markdown (README), one row per panel target."""
    lines = [f"Variables: {variables}, $__rate_interval = {window}", "",
             "| Panel | Legend | Query | Series | Max value |", "|---|---|---|---:|---:|"]
    for panel, legend, expr, series, top in rows:
        escaped = expr.replace("|", "\\|")
        lines.append(f"| {panel} | `{legend}` | `{escaped}` | {series} | {top:.4g} |")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "panel-queries.md"
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return path
