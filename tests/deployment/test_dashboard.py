"""The Grafana dashboard and alert rules query only metrics the services really export."""

from __future__ import annotations

import json
import re

from deploy_support import CHART, SERVICES, by_kind

DASHBOARD = CHART / "dashboards" / "fittingroom.json"
# Words in PromQL that are not metric names: aggregations, keywords, functions.
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
    "sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
    "inf", "nan",
}
# A whole word (no backtracking into a prefix) that is not a function call.
IDENTIFIER = re.compile(r"(?<![\w$.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (label matchers, strings, durations removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\$\{?\w+\}?", " ", expr)
    return {name for name in IDENTIFIER.findall(expr) if name.lower() not in PROMQL_WORDS}


def exported_names(metrics_text: str) -> set[str]:
    """Series names a /metrics page can produce, from its `# TYPE` lines (even before any sample)."""
    names = set()
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
                "summary": ("_sum", "_count", "_created"), "gauge": ("",), "untyped": ("",)}
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            base = name[: -len("_total")] if kind == "counter" and name.endswith("_total") else name
            names.update(base + suffix for suffix in suffixes.get(kind, ("",)))
    return names


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            queries.extend(re.findall(r"label_values\(([^,]+),", query["query"]))
    return queries


def test_dashboard_parses_and_has_the_panels_operators_need():
    dashboard = json.loads(DASHBOARD.read_text())
    titles = " | ".join(p["title"].lower() for p in dashboard["panels"])
    for needed in ("end-to-end latency", "per-stage latency", "throughput", "failures by code", "batch size",
                   "consumer lag", "cpu", "gpu"):
        assert needed in titles, needed
    expressions = " ".join(dashboard_queries())
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (le) (rate(fittingroom_end_to_end_latency_seconds_bucket" in expressions


def test_metric_name_extraction():
    expr = ('histogram_quantile(0.95, sum by (le, service) (rate(fittingroom_stage_latency_seconds_bucket'
            '{namespace="$namespace", service!="gateway"}[$__rate_interval]))) / on(service) group_left up > 0.5')
    assert metric_names(expr) == {"fittingroom_stage_latency_seconds_bucket", "up"}


def test_dashboard_and_alerts_query_only_exported_metrics(live_metrics, rendered):
    assert sorted(live_metrics) == sorted(SERVICES)
    exported = set().union(*(exported_names(text) for text in live_metrics.values()))
    assert "fittingroom_end_to_end_latency_seconds_bucket" in exported
    assert "process_cpu_seconds_total" in exported
    [rule] = by_kind(rendered["defaults"], "PrometheusRule").values()
    alert_queries = [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]
    queried = set().union(*(metric_names(q) for q in dashboard_queries() + alert_queries))
    assert queried, "no metric names found in the queries"
    assert queried <= exported, f"queried but not exported: {sorted(queried - exported)}"


def test_every_service_exports_the_shared_metrics(live_metrics):
    for name, text in live_metrics.items():
        assert "fittingroom_stage_latency_seconds_bucket" in exported_names(text), name
        assert f'fittingroom_gpu_memory_allocated_bytes{{service="{name}"}}' in text, name
