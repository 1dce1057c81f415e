"""``fittingroom bench hop``: one stage hop over Kafka, step by step, against the broker of ``make infra-up``.

A stage worker's hop is: poll the event, read the group's attempt marker, mark the
attempt, send the output into a transaction and wait for its acknowledgement, commit
the transaction with the input offsets, then the next stage's poll receives it. This
relays small events one at a time through two private topics with the product's own
bus (:mod:`fittingroom.bus`, the calls :class:`fittingroom.serving.worker.StageWorker`
makes, no model) and prints each step's p50 and p90, so a change to the client, its
settings or the broker shows where a hop's time went. Writes ``hop.json`` and ``hop.png``.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Callable

import typer
from tqdm import tqdm

from fittingroom.bus import BatchConsumer, make_producer, publish
from fittingroom.cli.bench import percentile_ms
from fittingroom.cli.errors import cli_errors
from fittingroom.provision import connect_admin, ensure_topics
from fittingroom.settings import Settings
from fittingroom.training import save_figure

STEPS = ("poll", "read marker", "mark attempt", "send", "commit", "next poll")
EVENT_BYTES = 1600  # about a stage event's size with its masks in MinIO


def _poll_one(consumer: BatchConsumer) -> list:
    records: list = []
    while not records:
        records = consumer.poll_batch()
    return records


def _owning(consumer: BatchConsumer, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not consumer.consumer.assignment() and time.monotonic() < deadline:
        consumer.poll_batch()


def relay_hops(bootstrap: str, hops: int, warmup: int = 3) -> dict[str, list[float]]:
    """Seconds each step took, per hop, over ``hops`` relayed events (after ``warmup``)."""
    run = uuid.uuid4().hex[:8]
    source, target = f"bench.hop.{run}.in", f"bench.hop.{run}.out"
    admin = connect_admin(bootstrap)
    ensure_topics(admin, (source, target), partitions=1)
    producer = make_producer(bootstrap, "bench-hop-source")
    worker = make_producer(bootstrap, "bench-hop-worker", transactional_id=f"bench-hop-{run}")
    stage = BatchConsumer(bootstrap, f"bench-hop-{run}", [source], max_batch=8, max_wait_ms=500, linger_ms=0)
    downstream = BatchConsumer(bootstrap, f"bench-hop-{run}-next", [target], max_batch=8, max_wait_ms=500, linger_ms=0)
    samples: dict[str, list[float]] = {step: [] for step in STEPS}
    try:
        _owning(stage)
        _owning(downstream)
        for i in tqdm(range(hops + warmup), desc="hops", unit="hop"):
            steps = _one_hop(producer, worker, stage, downstream, source, target, f"req-{i}")
            if i >= warmup:
                for step, seconds in zip(STEPS, steps):
                    samples[step].append(seconds)
    finally:
        for closing in (stage.close, downstream.close, producer.close, worker.close):
            closing()
        admin.delete_topics([source, target])
        admin.close()
    return samples


def _one_hop(producer, worker, stage: BatchConsumer, downstream: BatchConsumer, source: str, target: str,
             key: str) -> list[float]:
    """Relay one event through the stage's calls; each step's seconds, in :data:`STEPS` order."""
    publish(producer, source, key, bytes(EVENT_BYTES))
    received: list = []
    actions: list[Callable[[], object]] = [
        lambda: received.extend(_poll_one(stage)),
        lambda: stage.attempts_before(received),
        lambda: stage.mark_attempt(received, 1),
        lambda: (worker.begin_transaction(), publish(worker, target, key, bytes(EVENT_BYTES))),
        lambda: stage.commit_in_transaction(worker, received),
        lambda: downstream.commit(_poll_one(downstream)),
    ]
    marks = [time.perf_counter()]
    for action in actions:
        action()
        marks.append(time.perf_counter())
    return [later - earlier for earlier, later in zip(marks, marks[1:])]


def _rows(samples: dict[str, list[float]]) -> list[dict]:
    rows = [{"step": step, "p50_ms": percentile_ms(s, 50), "p90_ms": percentile_ms(s, 90)} for step, s in samples.items()]
    totals = [sum(hop) for hop in zip(*samples.values())]
    return rows + [{"step": "hop", "p50_ms": percentile_ms(totals, 50), "p90_ms": percentile_ms(totals, 90)}]


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    names = [r["step"] for r in rows]
    ax.barh(names, [r["p90_ms"] for r in rows], color="#c8d7ea", label="p90")
    ax.barh(names, [r["p50_ms"] for r in rows], color="#3b6ea5", label="p50")
    ax.invert_yaxis()
    ax.set_xlabel("ms")
    ax.legend()
    fig.suptitle("One Kafka stage hop, step by step")
    save_figure(fig, path, dpi=110)


def hop(
    hops: int = typer.Option(60, min=5, help="Events relayed (after 3 warm-ups)."),
    out_dir: Path = typer.Option(Path("out/bench"), help="Where hop.json and hop.png go."),
) -> None:
    """Time each step of one Kafka stage hop (no model) against the configured broker."""
    with cli_errors():
        settings = Settings.from_env()
        rows = _rows(relay_hops(settings.kafka_bootstrap, hops))
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "hop.json").write_text(json.dumps(rows, indent=1))
        _plot(rows, out_dir / "hop.png")
        print(f"{'step':<14} {'p50 ms':>8} {'p90 ms':>8}")
        for r in rows:
            print(f"{r['step']:<14} {r['p50_ms']:>8.2f} {r['p90_ms']:>8.2f}")
        print(f"wrote {out_dir / 'hop.json'} and {out_dir / 'hop.png'}")
