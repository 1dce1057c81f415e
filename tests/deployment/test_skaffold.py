"""skaffold.yaml: one artifact per service, each a target of services/Dockerfile, the real
chart, clean profiles."""

from __future__ import annotations

import re

import pytest
import yaml
from deploy_support import CHART, DOCKERFILE, GPU_SERVICES, REPO, SERVICES, dockerfile_stages, template

SKAFFOLD = yaml.safe_load((REPO / "skaffold.yaml").read_text())


def _artifact_sets() -> dict[str, list[dict]]:
    sets = {"base": SKAFFOLD["build"]["artifacts"]}
    for profile in SKAFFOLD["profiles"]:
        if "artifacts" in profile.get("build", {}):
            sets[profile["name"]] = profile["build"]["artifacts"]
    return sets


def _releases() -> dict[str, list[dict]]:
    found = {"base": SKAFFOLD["deploy"]["helm"]["releases"]}
    for profile in SKAFFOLD["profiles"]:
        if "deploy" in profile:
            found[profile["name"]] = profile["deploy"]["helm"]["releases"]
    return found


def test_profiles_for_cpu_gpu_and_dev():
    assert {p["name"] for p in SKAFFOLD["profiles"]} >= {"cpu", "gpu", "dev"}
    assert SKAFFOLD["apiVersion"].startswith("skaffold/v4")


def test_no_positional_patches():
    for profile in SKAFFOLD["profiles"]:
        for patch in profile.get("patches", []):
            assert not re.search(r"/\d+(/|$)", patch["path"]), (profile["name"], patch["path"])


@pytest.mark.parametrize("name, artifacts", _artifact_sets().items())
def test_one_artifact_per_service_from_its_dockerfile_target(name, artifacts):
    assert sorted(a["image"] for a in artifacts) == sorted(f"fittingroom-{s}" for s in SERVICES)
    for artifact in artifacts:
        context = REPO / artifact.get("context", ".")
        assert context.resolve() == REPO, "the build context is the repository root"
        docker = artifact["docker"]
        assert (context / docker["dockerfile"]).resolve() == DOCKERFILE
        assert docker["target"] == artifact["image"].removeprefix("fittingroom-")
        build_args = docker.get("buildArgs", {})
        args, stages = dockerfile_stages(build_args)
        assert set(build_args) <= set(args), f"{artifact['image']}: build args the Dockerfile does not declare"
        assert docker["target"] in stages


@pytest.mark.parametrize("name, artifacts", _artifact_sets().items())
def test_torch_variant_per_profile(name, artifacts):
    """CUDA model images in the base build (gpu), CPU ones in cpu and dev; gateway and compositing CPU."""
    expected = "cpu" if name in ("cpu", "dev") else "cuda"
    for artifact in artifacts:
        service = artifact["docker"]["target"]
        build_args = artifact["docker"].get("buildArgs", {})
        if service in GPU_SERVICES:
            assert build_args.get("TORCH_VARIANT") == expected, (name, service)
        else:
            assert "TORCH_VARIANT" not in build_args, f"{service} is always a CPU image"


@pytest.mark.parametrize("name, releases", _releases().items())
def test_releases_deploy_the_chart_with_every_image(helm, name, releases):
    [release] = releases
    assert (REPO / release["chartPath"]).resolve() == CHART
    for values_file in release.get("valuesFiles", []):
        assert (REPO / values_file).is_file(), values_file
    artifact_vars = {a["image"].replace("-", "_") for a in _artifact_sets()["base"]}
    used = set()
    for key, value in release["setValueTemplates"].items():
        used.update(re.findall(r"\{\{\.IMAGE_(?:REPO|TAG)_(\w+)\}\}", value))
    assert used == artifact_vars
    values = [f"{k}=placeholder" for k in release["setValueTemplates"]]
    values += [f"{k}={v}" for k, v in release.get("setValues", {}).items()]
    files = [arg for f in release.get("valuesFiles", []) for arg in ("-f", str(REPO / f))]
    out = template(helm, *files, *[arg for v in values for arg in ("--set", v)])
    assert out.returncode == 0, out.stderr
    images = re.findall(r"image: (\S+)", out.stdout)
    assert images and all(image == "placeholder:placeholder" for image in images), images


def test_dev_port_forward_names_the_gateway_service(helm):
    [forward] = next(p for p in SKAFFOLD["profiles"] if p["name"] == "dev")["portForward"]
    [release] = SKAFFOLD["deploy"]["helm"]["releases"]
    out = template(helm, release=release["name"])
    assert out.returncode == 0, out.stderr
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    services = {d["metadata"]["name"]: d for d in rendered if d["kind"] == "Service"}
    assert forward["resourceName"] in services
    assert forward["port"] in [p["port"] for p in services[forward["resourceName"]]["spec"]["ports"]]
