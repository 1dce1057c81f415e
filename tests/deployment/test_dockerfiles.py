"""services/<svc>/Dockerfile: parse, pinned multi-stage builds, real files, real entry command."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import tomllib

import pytest
from deploy_support import GPU_SERVICES, REPO, SERVICES
from dockerfile_parse import DockerfileParser
from typer.testing import CliRunner

DEFAULT_PORTS = {"gateway": 50050, "segmentation": 50051, "style": 50052, "translation": 50053, "compositing": 50054}
PINNED_BASE = re.compile(r"^[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$|^[\w./-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$")


def parse(service: str) -> DockerfileParser:
    return DockerfileParser(str(REPO / "services" / service / "Dockerfile"))


def instructions(parser: DockerfileParser, name: str) -> list[str]:
    return [i["value"] for i in parser.structure if i["instruction"] == name]


def final_stage(parser: DockerfileParser) -> list[dict]:
    starts = [n for n, i in enumerate(parser.structure) if i["instruction"] == "FROM"]
    return parser.structure[starts[-1]:]


@pytest.mark.parametrize("service", SERVICES)
def test_multi_stage_with_pinned_base(service):
    parser = parse(service)
    assert len(instructions(parser, "FROM")) >= 2
    for image in parser.parent_images:
        assert PINNED_BASE.match(image), f"{image} is not pinned to an exact version or digest"


@pytest.mark.parametrize("service", SERVICES)
def test_copy_sources_exist_and_no_weights(service):
    parser = parse(service)
    for value in instructions(parser, "COPY") + instructions(parser, "ADD"):
        words = shlex.split(value)
        if any(w.startswith("--from=") for w in words):
            continue
        sources = [w for w in words if not w.startswith("--")][:-1]
        assert sources
        for source in sources:
            assert (REPO / source).exists(), f"{service}: COPY source {source} does not exist"
            assert "starter_models" not in source and not source.endswith(".safetensors")
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "shared/fittingroom/starter_models" in ignored, "weights must stay out of the build context"


@pytest.mark.parametrize("service", SERVICES)
def test_runs_as_non_root_user(service):
    users = [i["value"] for i in final_stage(parse(service)) if i["instruction"] == "USER"]
    assert users, "the final stage must set USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric non-root uid (runAsNonRoot can verify it)"


@pytest.mark.parametrize("service", SERVICES)
def test_entry_command_exists(service):
    parser = parse(service)
    [entrypoint] = [i["value"] for i in final_stage(parser) if i["instruction"] == "ENTRYPOINT"]
    command = json.loads(entrypoint)
    assert command == ["fittingroom", "serve", service]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["fittingroom"] == "fittingroom.cli.main:app"
    from fittingroom.cli.main import app

    result = CliRunner().invoke(app, [*command[1:], "--help"])
    assert result.exit_code == 0, result.output
    exposed = {int(p) for value in instructions(parser, "EXPOSE") for p in value.split()}
    assert exposed == {DEFAULT_PORTS[service], DEFAULT_PORTS[service] + 1000}


@pytest.mark.parametrize("service", SERVICES)
def test_gpu_services_have_a_cuda_and_a_cpu_variant(service):
    parser = parse(service)
    default = dict(a.split("=", 1) for a in instructions(parser, "ARG") if "=" in a).get("TORCH_VARIANT")
    assert default == ("cuda" if service in GPU_SERVICES else "cpu")
    runs = " ".join(instructions(parser, "RUN"))
    assert 'image-deps.sh "$TORCH_VARIANT"' in runs


@pytest.mark.parametrize("variant, accepted", [("cpu", True), ("cuda", True), ("rocm", False)])
def test_image_deps_script_variants(tmp_path, variant, accepted):
    """Run image-deps.sh with a stand-in pip that records its arguments."""
    lock = tmp_path / "requirements.lock"
    lock.write_text("numpy==2.4.6\ntorch==2.15.0\ntorchvision==0.29.2\ntriton==3.9.0\nnvidia-cublas==13.4.1.3\n")
    (tmp_path / "pip").write_text(
        '#!/bin/sh\necho "pip $*" >> "$PIP_LOG"\n'
        'while [ $# -gt 0 ]; do [ "$1" = -r ] && cat "$2" >> "$PIP_LOG"; shift; done\n'
    )
    (tmp_path / "pip").chmod(0o755)
    log = tmp_path / "pip.log"
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "PIP_LOG": str(log)}
    out = subprocess.run(["bash", str(REPO / "shared" / "infra" / "image-deps.sh"), variant, str(lock)],
                         env=env, capture_output=True, text=True, timeout=30)
    assert (out.returncode == 0) == accepted, out.stderr
    if variant == "cpu":
        text = log.read_text()
        assert "download.pytorch.org/whl/cpu" in text
        assert "nvidia-cublas" not in text and "triton" not in text and "numpy==2.4.6" in text
