"""The cost curve's verdicts: growth against pixels, and saturation against collapse."""

from __future__ import annotations

import pytest

from fittingroom.cli.bench_curve import growth_exponent, kept_at_most_clients
from fittingroom.cli.bench_distributed import drive


def _sizes(*p50s: float) -> list[dict]:
    return [{"pixels": 512 * 512 * 4 ** i, "p50_ms": p50} for i, p50 in enumerate(p50s)]


def test_latency_with_a_fixed_cost_grows_slower_than_pixels_and_quadratic_growth_does_not():
    assert growth_exponent(_sizes(100, 160, 400)) < 1.0
    assert growth_exponent(_sizes(100, 400, 1600)) == pytest.approx(1.0)
    assert growth_exponent(_sizes(100, 1600, 25600)) == pytest.approx(2.0)


def test_throughput_that_levels_off_saturates_and_one_that_falls_away_collapses():
    levelled = [{"throughput_rps": r} for r in (4.0, 7.0, 8.0, 8.1, 7.9)]
    fallen = [{"throughput_rps": r} for r in (4.0, 7.0, 8.0, 5.0, 2.0)]
    assert kept_at_most_clients(levelled) == pytest.approx(7.9 / 8.1)
    assert kept_at_most_clients(fallen) == pytest.approx(0.25)


def test_a_failing_call_is_counted_by_kind_and_the_rest_still_measured():
    calls = iter(range(1, 100))  # the warm-up call (1) succeeds; 3, 6 and 9 fail

    def sometimes_fails() -> None:
        if next(calls) % 3 == 0:
            raise TimeoutError("slow")

    row = drive("probe", sometimes_fails, clients=1, requests=9)
    assert row["failures"] == {"TimeoutError": 3}
    assert row["throughput_rps"] > 0 and row["p50_ms"] >= 0
