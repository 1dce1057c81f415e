"""``fittingroom chaos``: N try-ons through the real stack while faults are injected on a schedule.

It starts a private Kafka and MinIO (``infra.sh up`` in a fresh folder, free
ports) and the five services as processes, then submits N requests through the
gateway in bursts, one just before each fault so that every fault meets work in
flight: a client that retries an UNAVAILABLE answer with the same request id
(Submit is idempotent). One after another, it
SIGKILLs each stage and the gateway (restarting each, as Kubernetes would),
restarts the broker, takes the object store and the broker away (briefly and
for ``--outage-s``), and publishes a tombstone, garbage bytes and an event that
crashes a stage. Outcomes are counted from the topics themselves (read whole,
read-committed): completed, failed by code, dead-lettered, lost, duplicated.
It prints a table and writes ``chaos.json`` and a throughput timeline with the
faults marked (``chaos.png``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc
import numpy as np
import typer
from tqdm import tqdm

from fittingroom.bus import TopicReader, make_producer, publish
from fittingroom.chain import CHAIN, COMPLETED, DLQ, FAILED, GATEWAY, REQUESTS, stage
from fittingroom.cli.client import gateway_channel
from fittingroom.cli.localstack import (
    InfraControl, Stack, infra_kafka_security, start_infra, start_stack, stop_infra, wait_serving,
)
from fittingroom.images import SAMPLES_DIR
from fittingroom.s3store import MinioStore
from fittingroom.tensors import public_request_id, put_object, put_tensor, request_key
from fittingroom.training import save_figure
from fittingroom.v1 import common_pb2, events_pb2, tryon_pb2, tryon_pb2_grpc

RETRIED_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED)


@dataclass(frozen=True)
class Fault:
    """One injected fault: SIGKILL a service, take a server away, or publish a poison record."""

    name: str
    action: str  # "kill" | "outage" | "poison"
    target: str  # a service, "kafka" / "minio", or "tombstone" / "garbage" / "crash"
    duration_s: float = 0.0


def default_schedule(outage_s: float, short_outage_s: float) -> list[Fault]:
    """Every fault once: each service killed, the broker restarted, both servers away briefly and long, three poisons."""
    kills = [Fault(f"kill {name}", "kill", name) for name in (*(s.name for s in CHAIN), GATEWAY.name)]
    return [
        Fault("tombstone", "poison", "tombstone"),
        kills[0],
        Fault(f"object store down {short_outage_s:.0f}s", "outage", "minio", short_outage_s),
        kills[1],
        Fault("garbage bytes", "poison", "garbage"),
        Fault("broker restart", "outage", "kafka", 0.0),
        kills[2],
        Fault(f"broker down {outage_s:.0f}s", "outage", "kafka", outage_s),
        kills[4],
        Fault("crashing event", "poison", "crash"),
        Fault(f"object store down {outage_s:.0f}s", "outage", "minio", outage_s),
        kills[3],
    ]


@dataclass
class FaultWindow:
    name: str
    start_s: float
    end_s: float
    in_flight: int = 0


class Injector:
    """Carries out :class:`Fault`s against a running stack and its infra."""

    def __init__(self, stack: Stack, infra_env: dict[str, str], run_id: str) -> None:
        self.stack = stack
        self.infra = InfraControl(infra_env)
        self.env = infra_env
        self.run_id = run_id

    def poison_key(self, target: str) -> str:
        return f"{self.run_id}-poison-{target}"

    def inject(self, fault: Fault) -> None:
        if fault.action == "kill":
            service = self.stack.services[fault.target]
            service.kill()
            service.start()
            wait_serving(service.address, 300)
        elif fault.action == "outage":
            self.infra.stop(fault.target)
            time.sleep(fault.duration_s)  # the outage itself: how long the server stays away
            self.infra.start(fault.target)
        else:
            self._poison(fault.target)

    def _poison(self, target: str) -> None:
        key = self.poison_key(target)
        producer = make_producer(self.env["FITTINGROOM_KAFKA_BOOTSTRAP"], client_id="fittingroom-chaos",
                                 security=infra_kafka_security(self.env))
        try:
            if target == "tombstone":
                publish(producer, REQUESTS, key, None)
            elif target == "garbage":
                publish(producer, REQUESTS, key, b"\xff\x00 chaos: not a TryOnEvent \x13\x37")
            else:
                publish(producer, stage("compositing").input_topic, key, self._crashing_event(key).SerializeToString())
        finally:
            producer.close()

    def _crashing_event(self, request_id: str) -> events_pb2.TryOnEvent:
        """A translated event whose garment mask is one-dimensional: compositing's maths trips on it."""
        store = MinioStore(self.env["FITTINGROOM_S3_ENDPOINT"], self.env["FITTINGROOM_S3_ACCESS_KEY"],
                           self.env["FITTINGROOM_S3_SECRET_KEY"], self.env["FITTINGROOM_REQUESTS_BUCKET"])
        event = events_pb2.TryOnEvent(request_id=request_id, stage=events_pb2.TRANSLATED, attempt=1)
        event.created.GetCurrentTime()
        event.person_image.CopyFrom(put_object(store, request_key(request_id, "input", "person_image"),
                                               (SAMPLES_DIR / "person.jpg").read_bytes(), "image/jpeg"))
        event.person_garment.mask.CopyFrom(put_tensor(store, request_key(request_id, "chaos", "mask.npy"),
                                                      np.zeros(3, np.uint8)))
        event.translated.CopyFrom(put_tensor(store, request_key(request_id, "chaos", "translated.npy"),
                                             np.zeros(3, np.float32)))
        return event


@dataclass
class Submitter:
    """Submits ``ids`` in order as they are released; an UNAVAILABLE or RESOURCE_EXHAUSTED answer is retried with the same id."""

    gateway: str
    ids: list[str]
    api_key: str = ""
    give_up_s: float = 600.0
    accepted: dict[str, float] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    retries: int = 0
    released: int = 0
    _release: threading.Condition = field(default_factory=threading.Condition)

    def release(self, count: int) -> int:
        """Let ``count`` more requests go (all that are left when ``count`` is larger); returns the total released."""
        with self._release:
            self.released = min(len(self.ids), self.released + count)
            self._release.notify_all()
            return self.released

    def handled(self) -> int:
        """Requests accepted or given up on so far."""
        return len(self.accepted) + len(self.rejected)

    def run(self, started: float) -> None:
        person, style = (SAMPLES_DIR / "person.jpg").read_bytes(), (SAMPLES_DIR / "style.jpg").read_bytes()
        with gateway_channel(self.gateway, self.api_key) as channel:
            stub = tryon_pb2_grpc.TryOnServiceStub(channel)
            for index, request_id in enumerate(self.ids):
                with self._release:
                    self._release.wait_for(lambda: self.released > index)
                request = tryon_pb2.TryOnRequest(request_id=request_id, person_image=person, style_image=style)
                self._submit(stub, request, started)

    def _submit(self, stub, request: tryon_pb2.TryOnRequest, started: float) -> None:
        deadline, delay = time.monotonic() + self.give_up_s, 0.5
        while True:
            try:
                stub.Submit(request, timeout=30)
                self.accepted[request.request_id] = time.monotonic() - started
                return
            except grpc.RpcError as exc:
                if exc.code() not in RETRIED_CODES or time.monotonic() > deadline:
                    self.rejected[request.request_id] = f"{exc.code().name}: {exc.details()}"
                    return
                self.retries += 1
                time.sleep(delay)
                delay = min(delay * 2, 5.0)


class Outcomes:
    """Every record on tryon.completed, tryon.failed and tryon.dlq, read whole and followed."""

    def __init__(self, infra_env: dict[str, str], epoch: float) -> None:
        self.reader = TopicReader(infra_env["FITTINGROOM_KAFKA_BOOTSTRAP"], [COMPLETED, FAILED, DLQ],
                                  client_id="fittingroom-chaos-count", security=infra_kafka_security(infra_env))
        self.epoch = epoch  # wall-clock time of the run's start: record timestamps are wall-clock
        self.finals: dict[str, list[tuple[str, float, str]]] = defaultdict(list)  # id → (topic, t, code)
        self.dead: Counter = Counter()  # DLQ records by key
        self._lock = threading.Lock()

    def follow(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                self._take(self.reader.poll(timeout_ms=500))
            except Exception as exc:  # noqa: BLE001 - the broker may be away; the client reconnects
                tqdm.write(f"outcome reader: {exc}")
                stopping.wait(1.0)

    def finish(self, timeout_s: float = 120.0) -> None:
        """Read up to the topics' current ends, so the counts are complete."""
        ends = self.reader.end_offsets()
        deadline = time.monotonic() + timeout_s
        while not self.reader.reached(ends) and time.monotonic() < deadline:
            self._take(self.reader.poll(timeout_ms=500))
        self.reader.close()

    def _take(self, records) -> None:
        with self._lock:
            for record in records:
                key = record.key.decode(errors="replace") if record.key else ""
                if record.topic == DLQ:
                    self.dead[key] += 1
                    continue
                event = events_pb2.TryOnEvent.FromString(record.value)
                code = "ok" if record.topic == COMPLETED else common_pb2.ErrorCode.Name(event.error.code).lower()
                self.finals[public_request_id(event.request_id)].append((record.topic, record.timestamp / 1000 - self.epoch, code))

    def finished(self, ids: list[str]) -> int:
        with self._lock:
            return sum(1 for i in ids if self.finals.get(i))


def summarise(ids: list[str], submitter: Submitter, outcomes: Outcomes, poison: dict[str, str],
              windows: list[FaultWindow], duration_s: float) -> dict:
    """The run's counts, from the topics: completed, failed by code, lost, duplicated, poison handling."""
    completed, failed, lost, duplicated = 0, Counter(), [], []
    for request_id in submitter.accepted:
        finals = outcomes.finals.get(request_id, [])
        if not finals:
            lost.append(request_id)
            continue
        if len(finals) > 1:
            duplicated.append(request_id)
        if finals[0][0] == COMPLETED:
            completed += 1
        else:
            failed[finals[0][2]] += 1
    done_at = [min(t for _, t, _ in outcomes.finals[i]) for i in submitter.accepted if outcomes.finals.get(i)]
    latencies = [min(t for _, t, _ in outcomes.finals[i]) - submitter.accepted[i]
                 for i in submitter.accepted if outcomes.finals.get(i)]
    for window in windows:
        window.in_flight = sum(1 for i, t in submitter.accepted.items()
                               if t <= window.start_s and (not outcomes.finals.get(i)
                                                           or min(x for _, x, _ in outcomes.finals[i]) > window.start_s))
    poison_seen = {target: {"dead_lettered": outcomes.dead[key],
                            "failed": [code for _, _, code in outcomes.finals.get(key, [])]}
                   for target, key in poison.items()}
    return {
        "requests": len(ids), "accepted": len(submitter.accepted), "rejected": len(submitter.rejected),
        "submit_retries": submitter.retries, "completed": completed, "failed": dict(failed),
        "lost": len(lost), "duplicated": len(duplicated), "lost_ids": lost[:20], "duplicated_ids": duplicated[:20],
        "poison": poison_seen, "duration_s": round(duration_s, 1),
        "throughput_rps": round(len(done_at) / max(max(done_at, default=0.0), 1e-9), 3),
        "latency_p50_s": round(float(np.percentile(latencies, 50)), 2) if latencies else None,
        "latency_p95_s": round(float(np.percentile(latencies, 95)), 2) if latencies else None,
        "faults": [asdict(w) for w in windows],
        "timeline": {"submitted_s": sorted(submitter.accepted.values()), "finished_s": sorted(done_at)},
    }


def poison_handled(report: dict) -> bool:
    """Tombstone and garbage dead-lettered; the crashing event dead-lettered and failed as internal."""
    seen = report["poison"]
    return (all(seen[t]["dead_lettered"] >= 1 for t in ("tombstone", "garbage", "crash"))
            and seen["crash"]["failed"] == ["internal"])


def clean(report: dict) -> bool:
    """Nothing lost, nothing duplicated, every good request completed, every poison handled."""
    return (report["lost"] == 0 and report["duplicated"] == 0 and report["rejected"] == 0
            and not report["failed"] and report["completed"] == report["requests"] and poison_handled(report))


def plot_timeline(report: dict, path: Path, bin_s: float = 5.0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timeline = report["timeline"]
    end = max([*timeline["finished_s"], *timeline["submitted_s"], 1.0])
    bins = np.arange(0.0, end + bin_s, bin_s)
    fig, ax = plt.subplots(figsize=(12, 4.5))
    for key, label in (("submitted_s", "submitted"), ("finished_s", "completed or failed")):
        counts, _ = np.histogram(timeline[key], bins=bins)
        ax.plot(bins[:-1] + bin_s / 2, counts / bin_s, label=label)
    top = ax.get_ylim()[1]
    for index, fault in enumerate(report["faults"]):
        ax.axvspan(fault["start_s"], max(fault["end_s"], fault["start_s"] + 0.5), color="tab:red", alpha=0.15)
        ax.text(fault["start_s"], top * (0.95 - 0.07 * (index % 4)), fault["name"], fontsize=7, color="tab:red")
    ax.set_xlabel("seconds since the run started")
    ax.set_ylabel("requests / s")
    ax.set_title(f"chaos: {report['requests']} try-ons, {report['completed']} completed, "
                 f"{report['lost']} lost, {report['duplicated']} duplicated")
    ax.legend(loc="upper right")
    save_figure(fig, path, dpi=110)


def print_report(report: dict) -> None:
    print(f"{'fault':<24} {'start s':>8} {'took s':>7} {'in flight':>9}")
    for fault in report["faults"]:
        print(f"{fault['name']:<24} {fault['start_s']:>8.1f} {fault['end_s'] - fault['start_s']:>7.1f} "
              f"{fault['in_flight']:>9}")
    failed = ", ".join(f"{code} {n}" for code, n in report["failed"].items()) or "0"
    rows = [("requests", report["requests"]), ("accepted", report["accepted"]),
            ("submit retries", report["submit_retries"]), ("completed", report["completed"]),
            ("failed", failed), ("lost", report["lost"]), ("duplicated", report["duplicated"]),
            ("poison handled", "yes" if poison_handled(report) else f"NO {report['poison']}"),
            ("throughput req/s", report["throughput_rps"]),
            ("latency p50 / p95 s", f"{report['latency_p50_s']} / {report['latency_p95_s']}"),
            ("run s", report["duration_s"])]
    print()
    for name, value in rows:
        print(f"{name:<22} {value}")


def run_chaos(infra_env: dict[str, str], work: Path, requests: int, schedule: list[Fault],
              gap_s: float, drain_s: float) -> dict:
    """The whole run on a started infra: services up, load and faults, counts from the topics."""
    stack = start_stack(infra_env, work)
    try:
        run_id = f"chaos-{uuid.uuid4().hex[:8]}"
        ids = [f"{run_id}-{i:05d}" for i in range(requests)]
        started = time.monotonic()
        outcomes = Outcomes(infra_env, time.time())
        stopping = threading.Event()
        follower = threading.Thread(target=outcomes.follow, args=(stopping,), daemon=True)
        follower.start()
        submitter = Submitter(stack.gateway, ids, api_key=stack.api_key)
        load = threading.Thread(target=submitter.run, args=(started,), daemon=True)
        load.start()
        injector = Injector(stack, infra_env, run_id)
        windows = _inject_all(injector, schedule, started, gap_s, submitter)
        submitter.release(requests)
        load.join()
        _drain(outcomes, ids, submitter, drain_s)
        stopping.set()
        follower.join(timeout=5)
        outcomes.finish()
        poison = {t: injector.poison_key(t) for t in ("tombstone", "garbage", "crash")}
        return summarise(ids, submitter, outcomes, poison, windows, time.monotonic() - started)
    finally:
        stack.stop()


def _inject_all(injector: Injector, schedule: list[Fault], started: float, gap_s: float,
                submitter: Submitter, wait_s: float = 600.0) -> list[FaultWindow]:
    """Each fault in turn, right after a burst of requests was accepted, then ``gap_s`` for traffic to flow."""
    windows = []
    burst = max(1, len(submitter.ids) // (len(schedule) + 1))
    for fault in tqdm(schedule, desc="faults", unit="fault"):
        released = submitter.release(burst)
        deadline = time.monotonic() + wait_s
        while submitter.handled() < released and time.monotonic() < deadline:
            time.sleep(0.05)
        begin = time.monotonic() - started
        tqdm.write(f"{begin:7.1f}s  {fault.name}")
        injector.inject(fault)
        windows.append(FaultWindow(fault.name, round(begin, 1), round(time.monotonic() - started, 1)))
        time.sleep(gap_s)  # the schedule's pacing: traffic flows between faults
    return windows


def _drain(outcomes: Outcomes, ids: list[str], submitter: Submitter, drain_s: float) -> None:
    """Wait until every accepted request has an outcome on the topics, or ``drain_s`` passed without progress."""
    accepted = list(submitter.accepted)
    bar = tqdm(total=len(accepted), desc="outcomes", unit="req")
    last, last_change = 0, time.monotonic()
    while True:
        done = outcomes.finished(accepted)
        bar.update(done - bar.n)
        if done >= len(accepted):
            break
        if done != last:
            last, last_change = done, time.monotonic()
        elif time.monotonic() - last_change > drain_s:
            break
        time.sleep(0.5)
    bar.close()


def chaos(
    requests: int = typer.Option(1000, min=10, help="Try-ons to submit."),
    outage_s: float = typer.Option(60.0, min=0.0, help="How long the long broker and object-store outages last."),
    short_outage_s: float = typer.Option(10.0, min=0.0, help="How long the short object-store outage lasts."),
    gap_s: float = typer.Option(15.0, min=0.0, help="Least time between two faults."),
    drain_s: float = typer.Option(300.0, min=10.0, help="Give up waiting for outcomes after this long without progress."),
    out_dir: Path = typer.Option(Path("out/chaos"), help="Where chaos.json and chaos.png go."),
    check: bool = typer.Option(False, help="Exit 1 unless nothing was lost or duplicated and only poison failed."),
) -> None:
    """Drive try-ons through a private stack while killing, stopping and poisoning it; count what came out."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fittingroom-chaos-") as work:
        infra_env = start_infra(Path(work) / "infra")
        schedule = default_schedule(outage_s, short_outage_s)
        try:
            report = run_chaos(infra_env, Path(work), requests, schedule, gap_s, drain_s)
        finally:
            stop_infra(infra_env)
            (out_dir / "logs").mkdir(exist_ok=True)
            for log in Path(work).glob("*.log"):
                shutil.copy(log, out_dir / "logs" / log.name)
    (out_dir / "chaos.json").write_text(json.dumps(report, indent=1))
    plot_timeline(report, out_dir / "chaos.png")
    print_report(report)
    print(f"wrote {out_dir / 'chaos.json'} and {out_dir / 'chaos.png'}")
    if check and not clean(report):
        raise typer.Exit(1)
