"""Constants and helpers shared by the deployment checks (imported by conftest and tests)."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "fittingroom"
KUBE_VERSION = "1.33.0"
NAMESPACE = "fittingroom"
SERVICES = ("gateway", "segmentation", "style", "translation", "compositing")
GPU_SERVICES = ("segmentation", "style", "translation")

# Values profiles every chart check runs against: name -> extra helm arguments.
PROFILES: dict[str, list[str]] = {
    "defaults": [],
    "cpu": ["-f", str(CHART / "values-cpu.yaml")],
    "keda-off": ["--set", "keda.enabled=false"],
    "existing-secrets": [
        "--set", "s3.existingSecret=minio-credentials",
        "--set", "s3.accessKeyKey=rootUser",
        "--set", "s3.secretKeyKey=rootPassword",
        "--set", "kafka.existingSecret=kafka-connection",
        "--set", "kafka.bootstrapKey=bootstrap.servers",
    ],
}
# Also linted and validated: the skaffold dev profile (no KEDA, no Prometheus Operator).
ALL_PROFILES: dict[str, list[str]] = {
    **PROFILES,
    "dev": ["-f", str(CHART / "values-cpu.yaml"), "-f", str(CHART / "values-dev.yaml")],
}


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess:
    """Run helm with captured text output (never raises on a non-zero exit)."""
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=120)


def template(helm: str, *extra: str, release: str = "fr") -> subprocess.CompletedProcess:
    """`helm template` of the chart as an operator would install it."""
    return run_helm(helm, "template", release, str(CHART), "--namespace", NAMESPACE,
                    "--kube-version", KUBE_VERSION, *extra)


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    """Objects of one kind keyed by their component label (or name)."""
    found = {}
    for obj in objects:
        if obj["kind"] == kind:
            labels = obj["metadata"].get("labels", {})
            found[labels.get("app.kubernetes.io/component", obj["metadata"]["name"])] = obj
    return found
