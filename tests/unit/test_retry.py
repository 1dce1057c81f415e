"""Backoff maths and deadline handling of fittingroom.retry (fake clock, no sleeping)."""

from __future__ import annotations

import itertools
import random

import pytest

from fittingroom.errors import RetryError
from fittingroom.retry import RetryPolicy, retry_call


class FakeClock:
    """A monotonic clock that only moves when ``sleep`` is called."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def flaky(failures: int, error: Exception):
    """A function that raises ``error`` ``failures`` times, then returns 'ok'."""
    calls = itertools.count()

    def fn() -> str:
        if next(calls) < failures:
            raise error
        return "ok"

    return fn


def test_delays_grow_exponentially_and_cap_without_jitter() -> None:
    policy = RetryPolicy(initial_delay_s=0.1, multiplier=2.0, max_delay_s=0.5, jitter=0.0)
    assert list(itertools.islice(policy.delays(), 5)) == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])


def test_jitter_only_shortens_waits() -> None:
    policy = RetryPolicy(initial_delay_s=1.0, multiplier=1.0, max_delay_s=1.0, jitter=0.5)
    waits = list(itertools.islice(policy.delays(random.Random(3)), 200))
    assert all(0.5 <= w <= 1.0 for w in waits)
    assert max(waits) - min(waits) > 0.3


def test_transient_errors_are_retried_until_success() -> None:
    clock = FakeClock()
    policy = RetryPolicy(deadline_s=10.0, jitter=0.0)
    result = retry_call(flaky(3, ConnectionError("reset")), policy, lambda e: True, sleep=clock.sleep, clock=clock)
    assert result == "ok"
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4])


def test_permanent_error_is_not_retried() -> None:
    clock = FakeClock()
    with pytest.raises(PermissionError):
        retry_call(flaky(1, PermissionError("denied")), RetryPolicy(), lambda e: False,
                   sleep=clock.sleep, clock=clock)
    assert clock.sleeps == []


def test_deadline_stops_retrying_and_keeps_the_cause() -> None:
    clock = FakeClock()
    policy = RetryPolicy(deadline_s=1.0, initial_delay_s=0.3, multiplier=1.0, jitter=0.0)
    with pytest.raises(RetryError) as info:
        retry_call(flaky(100, TimeoutError("slow")), policy, lambda e: True, sleep=clock.sleep, clock=clock)
    assert isinstance(info.value.__cause__, TimeoutError)
    assert clock.now == pytest.approx(1.0)
    assert info.value.attempts == 5  # at t = 0, 0.3, 0.6, 0.9 and the last one at 1.0


def test_zero_deadline_means_one_attempt() -> None:
    clock = FakeClock()
    with pytest.raises(RetryError):
        retry_call(flaky(1, OSError("refused")), RetryPolicy(deadline_s=0.0), lambda e: True,
                   sleep=clock.sleep, clock=clock)
    assert clock.sleeps == []


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(jitter=1.5)
    with pytest.raises(ValueError):
        RetryPolicy(multiplier=0.5)
