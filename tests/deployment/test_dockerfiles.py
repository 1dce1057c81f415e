"""services/Dockerfile: one multi-stage file, a target per service; pinned bases, real
files, a non-root user, the CPU and CUDA variants and a real entry command per target."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import tomllib

import pytest
import yaml
from deploy_support import (CHART, DOCKERFILE, GPU_SERVICES, REPO, SERVICES, dockerfile_stages,
                            stage_chain, stage_closure)
from dockerfile_parse import DockerfileParser
from fittingroom import chain
from typer.testing import CliRunner

DEFAULT_PORTS = {s.name: s.grpc_port for s in chain.SERVICES}
PINNED_BASE = re.compile(r"^[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$|^[\w./-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$")
# --build-arg TORCH_VARIANT as a build may pass it (None: the Dockerfile's default).
VARIANT_ARGS = (None, "cpu", "cuda")


def expected_variant(service: str, build_arg: str | None) -> str:
    """Model services: the build-arg, cuda by default; gateway and compositing: no torch at all."""
    return (build_arg or "cuda") if service in GPU_SERVICES else "none"


def labels(values: list[str]) -> dict[str, str]:
    return dict(word.split("=", 1) for value in values for word in shlex.split(value))


def test_parses_into_one_target_per_service():
    parser = DockerfileParser(str(DOCKERFILE))
    assert parser.structure and parser.is_multistage
    _, stages = dockerfile_stages()
    assert set(SERVICES) <= set(stages)
    for service in SERVICES:
        assert not (REPO / "services" / service / "Dockerfile").exists(), "one Dockerfile for every service"


@pytest.mark.parametrize("build_arg", VARIANT_ARGS)
def test_every_from_is_a_stage_or_a_pinned_image(build_arg):
    """Plain ${ARG} substitution (what skaffold's dependency parser does) resolves every FROM."""
    args, stages = dockerfile_stages({"TORCH_VARIANT": build_arg} if build_arg else None)
    assert PINNED_BASE.match(args["PYTHON_IMAGE"])
    seen: set[str] = set()
    for stage in stages.values():
        assert "$" not in stage.base, f"{stage.name}: FROM {stage.base} does not expand"
        if stage.base not in stages:
            assert PINNED_BASE.match(stage.base), f"{stage.base} is not pinned to an exact version or digest"
        else:
            assert stage.base in seen, f"{stage.name} is built FROM the later stage {stage.base}"
        seen.add(stage.name)


def test_copy_sources_exist_and_no_weights():
    parser = DockerfileParser(str(DOCKERFILE))
    copies = [i["value"] for i in parser.structure if i["instruction"] in ("COPY", "ADD")]
    assert copies
    for value in copies:
        words = shlex.split(value)
        if any(w.startswith("--from=") for w in words):
            continue
        sources = [w for w in words if not w.startswith("--")][:-1]
        assert sources
        for source in sources:
            assert (REPO / source).exists(), f"COPY source {source} does not exist"
            assert "starter_models" not in source and not source.endswith(".safetensors")
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "shared/fittingroom/starter_models" in ignored, "weights must stay out of the build context"


@pytest.mark.parametrize("build_arg", VARIANT_ARGS)
@pytest.mark.parametrize("service", SERVICES)
def test_runs_as_non_root_user(service, build_arg):
    _, stages = dockerfile_stages({"TORCH_VARIANT": build_arg} if build_arg else None)
    users = [u for stage in stage_chain(stages, service) for u in stage.values("USER")]
    assert users, "the service target must inherit a USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, "numeric non-root uid (runAsNonRoot can verify it)"
    context = yaml.safe_load((CHART / "values.yaml").read_text())["securityContext"]
    assert (int(uid), int(gid)) == (context["runAsUser"], context["runAsGroup"])


@pytest.mark.parametrize("service", SERVICES)
def test_target_ends_with_its_entry_command(service):
    _, stages = dockerfile_stages()
    target = stages[service]
    last = target.instructions[-1]
    assert last["instruction"] == "ENTRYPOINT", f"{service}: the target must end with ENTRYPOINT"
    command = json.loads(last["value"])
    assert command == ["fittingroom-serve", service]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["fittingroom-serve"] == "fittingroom.cli.serve:main"
    from fittingroom.cli.serve import serve_app

    result = CliRunner().invoke(serve_app, [*command[1:], "--help"])
    assert result.exit_code == 0, result.output
    chain = stage_chain(stages, service)
    exposed = {int(p) for stage in chain for value in stage.values("EXPOSE") for p in value.split()}
    assert exposed == {DEFAULT_PORTS[service], DEFAULT_PORTS[service] + 1000}
    titles = [labels(stage.values("LABEL")).get("org.opencontainers.image.title") for stage in chain]
    assert [t for t in titles if t][-1] == f"fittingroom-{service}"


@pytest.mark.parametrize("build_arg", VARIANT_ARGS)
@pytest.mark.parametrize("service", SERVICES)
def test_torch_variant_of_each_target(service, build_arg):
    """Each target builds only its variant's venv: image-deps.sh with that variant, checked entry command."""
    args, stages = dockerfile_stages({"TORCH_VARIANT": build_arg} if build_arg else None)
    assert args["TORCH_VARIANT"] == (build_arg or "cuda")
    variant = expected_variant(service, build_arg)
    chain = stage_chain(stages, service)
    variant_labels = [labels(s.values("LABEL")).get("io.fittingroom.torch-variant") for s in chain]
    assert [v for v in variant_labels if v][-1] == variant
    needed = stage_closure(stages, service)
    runs = [run for name in needed for run in stages[name].values("RUN")]
    deps = [m for run in runs for m in re.findall(r"image-deps\.sh (\S+) requirements\.lock", run)]
    assert deps == [variant], f"{service} ({build_arg}): image-deps.sh runs {deps}"
    assert any("fittingroom-serve --help" in run for run in runs), "the entry command is checked at build time"
    # The venv the target ships comes from a stage of that build.
    copied = [ref for stage in chain for ref in stage.stage_refs()]
    assert copied and all(ref in needed for ref in copied)


def run_image_deps(tmp_path, variant: str, torch_requires: str = "filelock") -> tuple[subprocess.CompletedProcess, str]:
    """image-deps.sh with stand-ins for pip (records its arguments; ``pip show torch`` names
    ``torch_requires``) and python; (the run, what pip was asked to install)."""
    lock = tmp_path / "requirements.lock"
    lock.write_text("numpy==2.4.6\ntorch==2.15.0\ntorchvision==0.29.2\ntriton==3.9.0\nnvidia-cublas==13.4.1.3\n"
                    "cuda-bindings==13.5.0\n")
    (tmp_path / "pip").write_text(
        '#!/bin/sh\necho "pip $*" >> "$PIP_LOG"\n'
        '[ "$1" = show ] && echo "Requires: $TORCH_REQUIRES"\n'
        'while [ $# -gt 0 ]; do [ "$1" = -r ] && cat "$2" >> "$PIP_LOG"; shift; done\n'
    )
    (tmp_path / "python").write_text("#!/bin/sh\necho python \"$*\" >> \"$PIP_LOG\"\n")
    for tool in ("pip", "python"):
        (tmp_path / tool).chmod(0o755)
    log = tmp_path / "pip.log"
    log.touch()
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "PIP_LOG": str(log), "TORCH_REQUIRES": torch_requires}
    out = subprocess.run(["bash", str(REPO / "shared" / "infra" / "image-deps.sh"), variant, str(lock)],
                         env=env, capture_output=True, text=True, timeout=30)
    return out, log.read_text()


@pytest.mark.parametrize("variant, accepted", [("cpu", True), ("cuda", True), ("none", True), ("rocm", False)])
def test_image_deps_script_variants(tmp_path, variant, accepted):
    out, asked = run_image_deps(tmp_path, variant)
    assert (out.returncode == 0) == accepted, out.stderr
    if accepted and variant != "none":
        assert "import torch, torchvision" in asked, "the installed torch must import"
    if variant == "none":
        assert "torch" not in asked.replace("no torch", "") and "nvidia-cublas" not in asked
        assert "numpy==2.4.6" in asked and "import cv2, grpc, numpy" in asked
    if variant == "cpu":
        assert "download.pytorch.org/whl/cpu" in asked
        assert "nvidia-cublas" not in asked and "triton" not in asked and "numpy==2.4.6" in asked


def test_cpu_variant_keeps_the_cuda_runtime_a_cuda_torch_needs(tmp_path):
    """PyPI's torch (the CUDA build) cannot be imported without its nvidia-* libraries; triton stays out."""
    out, asked = run_image_deps(tmp_path, "cpu", torch_requires="cuda-bindings, filelock, nvidia-cudnn-cu13, triton")
    assert out.returncode == 0, out.stderr
    assert "nvidia-cublas==13.4.1.3" in asked and "cuda-bindings==13.5.0" in asked and "triton" not in asked


def test_chart_ports_are_the_chains(values):
    """The chart's default ports are the ones declared in fittingroom.chain."""
    for spec in chain.SERVICES:
        service = values["services"][spec.name]
        assert (service["grpcPort"], service["metricsPort"]) == (spec.grpc_port, spec.metrics_port), spec.name


def test_the_dependency_layers_read_the_lock_through_copy_so_a_lock_change_rebuilds_them():
    """buildah's layer cache keys a RUN on its command line, not on the content of a bind-mounted
    file: with the lock bind-mounted, a new dependency left the old layer in place and the images
    failed at their entry-command check (`No module named 'isal'`)."""
    text = DOCKERFILE.read_text()
    assert "--mount=type=bind" not in text
    copies = [line.split()[1:] for line in text.splitlines() if line.startswith("COPY ") and "--from" not in line]
    assert ["requirements.lock", "shared/infra/image-deps.sh", "./"] in copies
