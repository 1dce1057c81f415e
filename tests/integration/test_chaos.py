"""The chaos suite, scaled down for CI: 150 try-ons under every fault, counted from the topics.

``fittingroom chaos`` starts its own Kafka, MinIO and services (so its kills and
outages touch nothing else in this session), drives the load and the faults,
and writes ``chaos.json``; this test reads the counts it took from the topics.
"""

from __future__ import annotations

import json
import subprocess
import sys

from fittingroom.cli.chaos import default_schedule
from fittingroom.cli.localstack import REPO

REQUESTS = 150
OUTAGE_S = 60


def test_every_fault_with_work_in_flight_loses_and_duplicates_nothing(tmp_path):
    out = tmp_path / "chaos"
    run = subprocess.run([sys.executable, "-m", "fittingroom.cli.main", "chaos", "--requests", str(REQUESTS),
                          "--outage-s", str(OUTAGE_S), "--gap-s", "5", "--drain-s", "240", "--out-dir", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((out / "chaos.json").read_text())
    assert (out / "chaos.png").stat().st_size > 0
    schedule = default_schedule(OUTAGE_S, 10)
    assert [f["name"] for f in report["faults"]] == [f.name for f in schedule]
    long_outages = [f for f in report["faults"] if f"{OUTAGE_S}s" in f["name"]]
    assert len(long_outages) == 2 and all(f["end_s"] - f["start_s"] >= OUTAGE_S for f in long_outages)
    assert all(f["in_flight"] > 0 for f in report["faults"]), report["faults"]
    assert report["accepted"] == REQUESTS and report["rejected"] == 0
    assert report["lost"] == 0, report["lost_ids"]
    assert report["duplicated"] == 0, report["duplicated_ids"]
    assert report["completed"] == REQUESTS and report["failed"] == {}, report["failed"]
    # Only the deliberately bad inputs failed or were dead-lettered.
    assert report["poison"] == {"tombstone": {"dead_lettered": 1, "failed": []},
                                "garbage": {"dead_lettered": 1, "failed": []},
                                "crash": {"dead_lettered": 1, "failed": ["internal"]}}
