"""The batch-outcome helper: successes mapped, failures kept in place, groups run once."""

import pytest

from fittingroom.serving.stage_base import Batch
from fittingroom.v1 import events_pb2


def _events(*keys):
    return [events_pb2.TryOnEvent(request_id=f"r{i}", style=dict(translation_key=k)) for i, k in enumerate(keys)]


def test_map_keeps_each_failure_in_its_place():
    events = _events("a", "b", "c")

    def step(event, _):
        if event.request_id == "r1":
            raise ValueError("bad r1")
        return event.request_id.upper()

    results = Batch.of(events).map(step).map(lambda _e, value: value + "!").results()
    assert results[0] == "R0!" and results[2] == "R2!"
    assert isinstance(results[1], ValueError) and str(results[1]) == "bad r1"


def test_map_together_runs_once_over_the_successes_only():
    calls = []

    def together(values):
        calls.append(list(values))
        return [v * 10 for v in values]

    batch = Batch(_events("a", "b", "c"), [1, RuntimeError("x"), 3])
    assert batch.map_together(together).results()[::2] == [10, 30]
    assert calls == [[1, 3]]


def test_map_groups_fails_only_the_group_that_raised():
    events = _events("red", "blue", "red", "blue")

    def per_group(key, values):
        if key == "blue":
            raise RuntimeError("no blue generator")
        return [f"{key}:{v}" for v in values]

    results = Batch(events, [0, 1, 2, 3]).map_groups(lambda e, _: e.style.translation_key, per_group).results()
    assert results[0] == "red:0" and results[2] == "red:2"
    assert all(isinstance(results[i], RuntimeError) for i in (1, 3))


def test_a_step_that_returns_the_wrong_count_fails_its_group():
    results = Batch(_events("a", "a"), [1, 2]).map_together(lambda values: values[:1]).results()
    assert all(isinstance(r, RuntimeError) for r in results)


@pytest.mark.parametrize("size", [0, 1])
def test_small_batches(size):
    assert Batch.of(_events(*"a" * size)).map(lambda e, _: e.request_id).results() == [f"r{i}" for i in range(size)]
