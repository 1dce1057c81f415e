"""The chart's alerts fire when they should and stay silent when they should: `promtool test rules`.

The rules are rendered from the chart's PrometheusRule template (the one source), and
promtool is built once with ``go install`` into the cache (fetch-prometheus.sh), so a
fresh machine with Go runs these too; nothing is skipped.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from fittingroom.cli.observe import alert_names, fetch_tool, render_rules

TESTS = Path(__file__).with_name("alerts") / "fittingroom.test.yaml"


@pytest.fixture(scope="module")
def promtool() -> Path:
    return fetch_tool("promtool")


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rendered rules.yaml and the unit tests that name it, side by side."""
    folder = tmp_path_factory.mktemp("rules")
    render_rules(folder / "rules.yaml")
    shutil.copy(TESTS, folder / TESTS.name)
    return folder


def _promtool(promtool: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(promtool), *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_rendered_rules_pass_promtool_check(promtool, rules_dir):
    done = _promtool(promtool, "check", "rules", "rules.yaml", cwd=rules_dir)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_passes_its_promtool_unit_tests(promtool, rules_dir):
    done = _promtool(promtool, "test", "rules", TESTS.name, cwd=rules_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_every_alert_has_a_firing_and_a_silent_case(rules_dir):
    """Each alert is expected to fire in one test group and to stay silent in another."""
    groups = yaml.safe_load(TESTS.read_text())["tests"]
    fires: set[str] = set()
    silent: set[str] = set()
    for group in groups:
        cases = group.get("alert_rule_test", [])
        fires.update(c["alertname"] for c in cases if c["exp_alerts"])
        if not any(c["exp_alerts"] for c in cases):
            silent.update(c["alertname"] for c in cases)
    alerts = set(alert_names(rules_dir / "rules.yaml"))
    assert alerts, "the chart renders no alerts"
    assert alerts <= fires, f"no firing test: {sorted(alerts - fires)}"
    assert alerts <= silent, f"no silent test group: {sorted(alerts - silent)}"
    assert fires | silent <= alerts, f"tests of alerts the chart does not have: {sorted((fires | silent) - alerts)}"
