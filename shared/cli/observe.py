"""A real Prometheus for the local stack: the chart's alert rules, the five services' /metrics.

``make observe`` (``fittingroom observe up``) and the live dashboard test start it
through :func:`start_prometheus`. Prometheus and promtool are built once with ``go
install`` (``shared/infra/fetch-prometheus.sh``). The rules are never copied: they are
rendered from the chart's PrometheusRule template (:func:`render_rules`), so the rules
Prometheus evaluates here are the ones a cluster gets. Each scrape target is labelled
the way the chart's ServiceMonitors label it in a cluster (``service``, ``namespace``),
so the rules and the dashboard's queries select the same series.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import typer
import yaml

from fittingroom.chain import SERVICES as CHAIN_SERVICES
from fittingroom.cli.localstack import INFRA_SCRIPTS, REPO, Stack, stop_process
from fittingroom.ports import free_port
from fittingroom.errors import MonitoringError

CHART = REPO / "charts" / "fittingroom"
RULE_TEMPLATE = "templates/prometheusrule.yaml"
# The namespace the rules are rendered for and the label every local target gets:
# the chart's rules select {namespace="<release namespace>"}.
NAMESPACE = "fittingroom"
JOB = "fittingroom"
KUBE_VERSION = "1.33.0"  # what `make chart-lint` renders for; the chart needs >= 1.30
DEFAULT_PORT = 9090
DEFAULT_WORK = REPO / "out" / "observe"
READY_TIMEOUT_S = 60.0
POLL_S = 0.25


@dataclass(frozen=True)
class Target:
    """One /metrics endpoint to scrape and the service it belongs to."""

    service: str
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def local_targets() -> list[Target]:
    """The five services as ``make up`` runs them: metrics on the chain's default ports."""
    return [Target(spec.name, spec.metrics_port) for spec in CHAIN_SERVICES]


def stack_targets(stack: Stack) -> list[Target]:
    """The services of a private :class:`Stack` (free ports)."""
    return [Target(name, service.metrics_port) for name, service in stack.services.items()]


def fetch_tool(tool: str) -> Path:
    """Path of ``prometheus``, ``promtool`` or ``helm``, built into the cache first if missing or stale."""
    script = "fetch-helm.sh" if tool == "helm" else "fetch-prometheus.sh"
    args = [] if tool == "helm" else [tool]
    done = subprocess.run(["bash", str(INFRA_SCRIPTS / script), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise MonitoringError(f"could not build {tool}: {done.stderr.strip()[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def render_rules(out: Path) -> Path:
    """Write the chart's PrometheusRule ``spec`` (its rule groups) to ``out`` as a Prometheus rule file."""
    helm = fetch_tool("helm")
    done = subprocess.run(
        [str(helm), "template", JOB, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION,
         "--show-only", RULE_TEMPLATE,
         # What every install names for its cluster; offline rendering never reads the Secrets.
         "-f", str(CHART / "ci" / "cluster-values.yaml")],
        capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise MonitoringError(f"helm template {RULE_TEMPLATE}: {done.stderr.strip()}")
    rule = yaml.safe_load(done.stdout)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return out


def alert_names(rules_file: Path) -> list[str]:
    """Every alert a rule file defines, in file order."""
    groups = yaml.safe_load(rules_file.read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


def write_config(work: Path, targets: list[Target], rules: Path, scrape_interval: str) -> Path:
    """prometheus.yml: one static target per service, labelled as the chart's ServiceMonitor labels it."""
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [str(rules)],
        "scrape_configs": [{
            "job_name": JOB,
            # The services' own `service` label wins; process_* series get it from the target.
            "honor_labels": True,
            "static_configs": [{"targets": [t.address], "labels": {"service": t.service, "namespace": NAMESPACE}}
                               for t in targets],
        }],
    }
    path = work / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class Prometheus:
    """A running Prometheus and a small client for its HTTP API."""

    url: str
    process: subprocess.Popen | None = None
    started: float = 0.0  # wall-clock time it was started (seconds since the epoch)

    def api(self, path: str, **params: str) -> object:
        """GET ``/api/v1/<path>``; the ``data`` of a success, else :class:`MonitoringError`."""
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=30) as reply:
                body = json.loads(reply.read())
        except OSError as exc:
            raise MonitoringError(f"{path} {params}: {exc}") from exc
        if body.get("status") != "success":
            raise MonitoringError(f"{path} {params}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """Instant vector result of ``expr`` now."""
        return self.api("query", query=expr)["result"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict]:
        """Matrix result of ``expr`` over [start, end] every ``step`` seconds."""
        return self.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step:g}")["result"]

    def label_values(self, label: str, match: str) -> list[str]:
        """Values of ``label`` on series matching ``match`` (Grafana's ``label_values(match, label)``)."""
        return self.api(f"label/{label}/values", **{"match[]": match})

    def targets(self) -> list[dict]:
        """The active scrape targets and their health."""
        return self.api("targets", state="active")["activeTargets"]

    def alerting_rules(self) -> list[dict]:
        """Loaded alerting rules with their health and state."""
        groups = self.api("rules", type="alert")["groups"]
        return [rule for group in groups for rule in group["rules"]]

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as reply:
                return reply.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        stop_process(self.process)


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``check`` (an observation, never a fixed sleep) until it holds; :class:`MonitoringError` on timeout."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise MonitoringError(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(POLL_S)


def all_targets_up(prometheus: Prometheus, count: int) -> bool:
    """Every one of ``count`` targets has been scraped successfully at least once."""
    targets = prometheus.targets()
    return len(targets) == count and all(t["health"] == "up" for t in targets)


def start_prometheus(work: Path, targets: list[Target], scrape_interval: str = "1s", port: int = 0,
                     detach: bool = False) -> Prometheus:
    """Start Prometheus on ``port`` (a free one for 0) scraping ``targets`` with the chart's rules; wait for ready.

    ``detach`` puts it in its own session so it outlives this process (``make observe``).
    """
    binary = fetch_tool("prometheus")
    work.mkdir(parents=True, exist_ok=True)
    rules = render_rules(work / "rules.yaml")
    config = write_config(work, targets, rules, scrape_interval)
    port = port or free_port()
    log = open(work / "prometheus.log", "ab")
    process = subprocess.Popen(
        [str(binary), f"--config.file={config}", f"--storage.tsdb.path={work / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=2d"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=detach)
    log.close()
    prometheus = Prometheus(f"http://127.0.0.1:{port}", process, time.time())
    try:
        wait_until(lambda: _alive_and_ready(prometheus), READY_TIMEOUT_S, f"Prometheus ready on :{port}")
    except MonitoringError:
        prometheus.stop()
        raise MonitoringError(f"Prometheus did not start; see {work / 'prometheus.log'}") from None
    return prometheus


def _alive_and_ready(prometheus: Prometheus) -> bool:
    if prometheus.process is not None and prometheus.process.poll() is not None:
        raise MonitoringError(f"Prometheus exited with status {prometheus.process.returncode}")
    return prometheus.ready()


def finite_values(result: list[dict]) -> list[float]:
    """The finite sample values of an instant-query result (NaN and ±Inf left out)."""
    values = (float(series["value"][1]) for series in result)
    return [v for v in values if math.isfinite(v)]


app = typer.Typer(help="A local Prometheus with the chart's alert rules, scraping `make up`'s services.",
                  no_args_is_help=True)


@app.command("up")
def up(work: Path = typer.Option(DEFAULT_WORK, help="Config, rules, TSDB, log and pid file"),
       port: int = typer.Option(DEFAULT_PORT, help="HTTP port of the Prometheus API"),
       scrape_interval: str = typer.Option("5s", help="Scrape and rule evaluation interval")) -> None:
    """Start Prometheus in the background (built on first use); it keeps running until `observe down`."""
    from fittingroom.cli.errors import cli_errors

    pid_file = work / "prometheus.pid"
    if _running(pid_file):
        typer.echo(f"Prometheus already running (pid {pid_file.read_text().strip()})")
        return
    targets = local_targets()
    with cli_errors():
        prometheus = start_prometheus(work, targets, scrape_interval, port, detach=True)
    pid_file.write_text(f"{prometheus.process.pid}\n")
    typer.echo(f"Prometheus {prometheus.url} scraping {', '.join(t.address for t in targets)}; "
               f"alerts: {', '.join(alert_names(work / 'rules.yaml'))}")


@app.command("down")
def down(work: Path = typer.Option(DEFAULT_WORK, help="The folder `observe up` used")) -> None:
    """Stop the Prometheus `observe up` started (its TSDB stays in the work folder)."""
    pid_file = work / "prometheus.pid"
    if _running(pid_file):
        os.kill(int(pid_file.read_text()), signal.SIGTERM)
        typer.echo("Prometheus stopping")
    pid_file.unlink(missing_ok=True)


def _running(pid_file: Path) -> bool:
    """The pid file names a live process."""
    try:
        os.kill(int(pid_file.read_text()), 0)
    except (OSError, ValueError):
        return False
    return True
