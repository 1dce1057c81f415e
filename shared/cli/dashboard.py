"""The Grafana dashboard's queries, run against a live Prometheus: variables resolved, snapshots drawn.

The dashboard stays a JSON ConfigMap for Grafana (charts/fittingroom/dashboards);
this module reads the same JSON, so a panel's PromQL is written once. It resolves the
``$variables`` the way Grafana would (``label_values(...)`` through the label API),
substitutes them, and either evaluates each panel (the live dashboard test) or draws
the main panels from range queries into a PNG (``fittingroom dashboard snapshot``),
for people without a Grafana at hand.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import typer

from fittingroom.cli.localstack import REPO
from fittingroom.cli.observe import Prometheus
from fittingroom.errors import MonitoringError

DASHBOARD = REPO / "charts" / "fittingroom" / "dashboards" / "fittingroom.json"
LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<match>.+?)\s*,\s*(?P<label>\w+)\s*\)\s*$")
# The panels `dashboard snapshot` draws: latency per stage, throughput, failures, lag, dead letters.
SNAPSHOT_PANELS = (
    "End-to-end latency (event path, completed)", "TryOn latency (gateway, gRPC)", "Per-stage latency p95",
    "Throughput", "Failures by code", "Consumer lag", "Dead letters (tryon.dlq)", "Messages by result",
)


@dataclass(frozen=True)
class PanelQuery:
    """One query of one panel: its title, the series' legend template and the PromQL as written."""

    panel: str
    legend: str
    expr: str


def load_dashboard(path: Path = DASHBOARD) -> dict:
    return json.loads(path.read_text())


def panel_queries(dashboard: dict) -> list[PanelQuery]:
    """Every target of every panel (rows have none), in dashboard order."""
    return [PanelQuery(panel["title"], target.get("legendFormat", ""), target["expr"])
            for panel in dashboard["panels"] for target in panel.get("targets", [])]


def resolve_variables(dashboard: dict, prometheus: Prometheus) -> dict[str, str]:
    """Each query variable's first value from the live Prometheus, as Grafana picks it on load."""
    resolved = {}
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        found = LABEL_VALUES.match(variable["query"]["query"])
        if not found:
            raise MonitoringError(f"variable {variable['name']}: only label_values(...) queries are supported")
        values = sorted(prometheus.label_values(found["label"], found["match"]))
        if not values:
            raise MonitoringError(f"variable {variable['name']}: {variable['query']['query']} has no values")
        resolved[variable["name"]] = values[0]
    return resolved


def substitute(expr: str, variables: dict[str, str], rate_interval: str) -> str:
    """The PromQL Grafana sends: ``$name``/``${name}`` replaced, ``$__rate_interval`` set to ``rate_interval``."""
    values = {**variables, "__rate_interval": rate_interval}

    def value(match: re.Match) -> str:
        name = match["braced"] or match["bare"]
        if name not in values:
            raise MonitoringError(f"unknown dashboard variable ${name} in {expr}")
        return values[name]

    return re.sub(r"\$(?:\{(?P<braced>\w+)\}|(?P<bare>\w+))", value, expr)


def legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's legend: ``{{label}}`` replaced by the series' label value."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m[1], ""), template) or str(labels)


def snapshot(prometheus: Prometheus, out: Path, minutes: float, step_s: float, rate_interval: str) -> Path:
    """Draw the main panels over the last ``minutes`` from range queries into the PNG ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dashboard = load_dashboard()
    variables = resolve_variables(dashboard, prometheus)
    queries = panel_queries(dashboard)
    end = time.time()
    start = end - minutes * 60
    unit, per = ("seconds", 1.0) if minutes <= 3 else ("minutes", 60.0)
    figure, axes = plt.subplots(4, 2, figsize=(14, 13), constrained_layout=True)
    for ax, title in zip(axes.flat, SNAPSHOT_PANELS):
        for query in (q for q in queries if q.panel == title):
            expr = substitute(query.expr, variables, rate_interval)
            for series in prometheus.query_range(expr, start, end, step_s):
                times = [(float(t) - end) / per for t, _ in series["values"]]
                ax.plot(times, [float(v) for _, v in series["values"]], label=legend(query.legend, series["metric"]))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(f"{unit} before now", fontsize=8)
        ax.tick_params(labelsize=8)
        if ax.lines:
            ax.legend(fontsize=7, loc="upper left")
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    variable_text = ", ".join(f"{k}={v}" for k, v in variables.items())
    figure.suptitle(f"{dashboard['title']} ({variable_text}) from {prometheus.url}", fontsize=11)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=80)
    plt.close(figure)
    return out


app = typer.Typer(help="The Grafana dashboard without Grafana: its panels from a live Prometheus.",
                  no_args_is_help=True)


@app.command("snapshot")
def snapshot_command(
    prometheus: str = typer.Option("http://127.0.0.1:9090", help="Base URL of the Prometheus to query"),
    out: Path = typer.Option(Path("out/observe/dashboard.png"), help="PNG to write"),
    minutes: float = typer.Option(15.0, help="Time range: this many minutes up to now"),
    step: float = typer.Option(5.0, help="Seconds between points"),
    rate_interval: str = typer.Option("1m", help="What $__rate_interval becomes (at least 4 scrape intervals)"),
) -> None:
    """Render latency per stage, throughput, failures by code, consumer lag and dead letters into a PNG."""
    from fittingroom.cli.errors import cli_errors

    with cli_errors():
        path = snapshot(Prometheus(prometheus.rstrip("/")), out, minutes, step, rate_interval)
    typer.echo(f"wrote {path}")
