"""Reading the dashboard's queries the way Grafana does: variables found and substituted, legends filled."""

from __future__ import annotations

import pytest

from fittingroom.cli.dashboard import (
    LABEL_VALUES, SNAPSHOT_PANELS, legend, load_dashboard, panel_queries, substitute,
)
from fittingroom.errors import MonitoringError


def test_substitute_fills_bare_and_braced_variables_and_the_rate_interval():
    expr = 'rate(x{namespace="$namespace", pod="${pod}"}[$__rate_interval])'
    assert substitute(expr, {"namespace": "fr", "pod": "p-1"}, "90s") == 'rate(x{namespace="fr", pod="p-1"}[90s])'


def test_substitute_refuses_an_unknown_variable():
    with pytest.raises(MonitoringError, match=r"\$cluster"):
        substitute('up{cluster="$cluster"}', {}, "1m")


def test_legend_uses_the_series_labels():
    labels = {"service": "style", "topic": "tryon.segmented"}
    assert legend("{{service}} ← {{topic}}", labels) == "style ← tryon.segmented"


def test_every_query_variable_is_a_label_values_query_and_every_panel_query_is_filled():
    dashboard = load_dashboard()
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert LABEL_VALUES.match(variable["query"]["query"]), variable["name"]
    names = {v["name"]: "value" for v in dashboard["templating"]["list"] if v["type"] == "query"}
    for query in panel_queries(dashboard):
        assert "$" not in substitute(query.expr, names, "1m"), query.panel


def test_the_snapshot_panels_exist():
    titles = {query.panel for query in panel_queries(load_dashboard())}
    assert set(SNAPSHOT_PANELS) <= titles
