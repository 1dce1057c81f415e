"""The hop benchmark's table: each step's percentiles, and the whole hop summed per event."""

import pytest

from fittingroom.cli.bench_hop import STEPS, _rows


def test_the_hop_row_sums_each_events_steps_before_taking_percentiles() -> None:
    samples = {step: [0.001 * (i + 1), 0.002 * (i + 1)] for i, step in enumerate(STEPS)}
    rows = {r["step"]: r for r in _rows(samples)}
    assert list(rows) == [*STEPS, "hop"]
    first_hop = sum(0.001 * (i + 1) for i in range(len(STEPS))) * 1000
    assert rows["hop"]["p50_ms"] == pytest.approx(1.5 * first_hop)
    assert rows[STEPS[0]]["p90_ms"] == pytest.approx(1.9)
