"""Constants and helpers shared by the deployment checks (imported by conftest and tests)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dockerfile_parse import DockerfileParser
from fittingroom import chain

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "fittingroom"
KUBE_VERSION = "1.33.0"
NAMESPACE = "fittingroom"
SERVICES = tuple(s.name for s in chain.SERVICES)
GPU_SERVICES = ("segmentation", "style", "translation")

# What every render adds first (later -f and --set override it): the Secret of the Kafka
# users' passwords, which the chart requires with SASL_SSL and never makes.
# Values every install sets for its cluster (the Kafka users' and MinIO admin Secrets);
# given first, so any check can override them.
CLUSTER_VALUES = CHART / "ci" / "cluster-values.yaml"
BASE_VALUES = ["-f", str(CLUSTER_VALUES)]
# Values profiles every chart check runs against: name -> extra helm arguments.
PROFILES: dict[str, list[str]] = {
    "defaults": [],
    "cpu": ["-f", str(CHART / "values-cpu.yaml")],
    "keda-off": ["--set", "keda.enabled=false"],
    "existing-secrets": [
        "--set", "s3.existingSecret=fittingroom-minio-users",
        "--set", "s3.admin.existingSecret=minio-credentials",
        "--set", "kafka.existingSecret=kafka-connection",
        "--set", "kafka.bootstrapKey=bootstrap.servers",
    ],
}
# TLS material from one Secret the operator made, or from cert-manager.
TLS_PROFILES: dict[str, list[str]] = {
    "tls-existing-secret": ["--set", "tls.enabled=true", "--set", "tls.existingSecret=fittingroom-tls"],
    "tls-cert-manager": [
        "--set", "tls.enabled=true", "--set", "tls.certManager.enabled=true",
        "--set", "tls.certManager.issuerRef.name=fittingroom-ca",
        "--set", "tls.certManager.issuerRef.kind=ClusterIssuer",
    ],
}
# Also linted and validated: the skaffold dev profile (no KEDA, no Prometheus Operator)
# and the TLS profiles.
ALL_PROFILES: dict[str, list[str]] = {
    **PROFILES,
    "dev": ["-f", str(CHART / "values-cpu.yaml"), "-f", str(CHART / "values-dev.yaml")],
    **TLS_PROFILES,
}


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess:
    """Run helm with captured text output (never raises on a non-zero exit)."""
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=120)


def template(helm: str, *extra: str, release: str = "fr", base: bool = True) -> subprocess.CompletedProcess:
    """`helm template` of the chart as an operator would install it (after :data:`BASE_VALUES` unless ``base`` is off)."""
    return run_helm(helm, "template", release, str(CHART), "--namespace", NAMESPACE,
                    "--kube-version", KUBE_VERSION, *(BASE_VALUES if base else []), *extra)


# Pod-template annotation that hashes the chart-made Secret (rolls pods when it changes).
SECRET_CHECKSUM = "checksum/s3-secret"


def without_generated_credentials(objects: list[dict]) -> list[dict]:
    """A render with what the chart draws at random blanked: Secret contents and their checksum.

    Offline renders (``helm template``) generate fresh keys every time, so two
    renders are only comparable once those are taken out.
    """
    blanked = []
    for obj in objects:
        if obj["kind"] == "Secret":
            obj = {**obj, "data": dict.fromkeys(obj.get("data", {}), "")}
        template = obj.get("spec", {}).get("template", {})
        annotations = template.get("metadata", {}).get("annotations") or {}
        if SECRET_CHECKSUM in annotations:
            metadata = {**template["metadata"], "annotations": {**annotations, SECRET_CHECKSUM: ""}}
            obj = {**obj, "spec": {**obj["spec"], "template": {**template, "metadata": metadata}}}
        blanked.append(obj)
    return blanked


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    """Objects of one kind keyed by their component label (or name)."""
    found = {}
    for obj in objects:
        if obj["kind"] == kind:
            labels = obj["metadata"].get("labels", {})
            found[labels.get("app.kubernetes.io/component", obj["metadata"]["name"])] = obj
    return found


# ---- services/Dockerfile: one multi-stage file, one target per service.
DOCKERFILE = REPO / "services" / "Dockerfile"


@dataclass
class Stage:
    """One FROM ... AS name block of the Dockerfile."""

    name: str
    base: str  # the FROM image or earlier stage, global ARGs substituted
    instructions: list[dict]  # dockerfile-parse structure entries after the FROM

    def values(self, instruction: str) -> list[str]:
        return [i["value"] for i in self.instructions if i["instruction"] == instruction]

    def stage_refs(self) -> set[str]:
        """Stages this one reads files from (COPY --from=, RUN --mount=...,from=)."""
        refs = set()
        for i in self.instructions:
            if i["instruction"] in ("COPY", "ADD", "RUN"):
                refs.update(re.findall(r"--(?:from=|mount=\S*?\bfrom=)([\w.-]+)", i["value"]))
        return refs


def substitute(text: str, args: dict[str, str]) -> str:
    """Plain $NAME / ${NAME} substitution, the only form skaffold's Dockerfile parser expands."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], m[0]), text)


def dockerfile_stages(build_args: dict[str, str] | None = None) -> tuple[dict[str, str], dict[str, Stage]]:
    """(global ARGs with build_args applied, stages by name in file order) of services/Dockerfile."""
    structure = DockerfileParser(str(DOCKERFILE)).structure
    global_args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for instr in structure:
        if instr["instruction"] == "FROM":
            words = [w for w in instr["value"].split() if not w.startswith("--")]
            assert len(words) == 3 and words[1].lower() == "as", f"unnamed stage: FROM {instr['value']}"
            current = Stage(words[2], substitute(words[0], global_args), [])
            assert current.name not in stages, f"stage {current.name} defined twice"
            stages[current.name] = current
        elif current is None:
            if instr["instruction"] == "ARG":
                name, _, default = instr["value"].partition("=")
                global_args[name] = (build_args or {}).get(name, default)
        else:
            current.instructions.append(instr)
    return global_args, stages


def stage_chain(stages: dict[str, Stage], target: str) -> list[Stage]:
    """The target and the stages it is built FROM, base first."""
    chain = [stages[target]]
    while chain[0].base in stages:
        chain.insert(0, stages[chain[0].base])
    return chain


def stage_closure(stages: dict[str, Stage], target: str) -> set[str]:
    """Every stage a build of target needs (what BuildKit builds for --target target)."""
    needed, todo = set(), [target]
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        stage = stages[name]
        todo.extend(ref for ref in {stage.base, *stage.stage_refs()} if ref in stages)
        missing = stage.stage_refs() - set(stages)
        assert not missing, f"{name} reads from unknown stages {missing}"
    return needed
