"""The podman flags the image tests run with are the chart's pod spec, field for field.

test_images.py runs every image with :func:`chart_podman.pod_run` of the rendered
Deployment; these checks (helm only, no podman) pin that translation to the chart: every
security setting, writable mount, Secret mount and variable of every service's pod has
its flag, and a pod field the translation cannot carry out fails instead of being dropped;
and `make images` tags the images the chart names.
"""

from __future__ import annotations

import copy
import subprocess

import pytest
import yaml
from chart_podman import UnsupportedField, pod_run
from deploy_support import CHART, REPO, SERVICES, by_kind, template

# Profiles a CPU-only podman host can run (the default profile requests GPUs).
RUNNABLE = ("cpu", "dev")


def flag_value(flags: list[str], name: str) -> list[str]:
    """Every value given to ``name`` in ``flags``."""
    return [flags[i + 1] for i, flag in enumerate(flags) if flag == name]


@pytest.mark.parametrize("profile", RUNNABLE)
@pytest.mark.parametrize("service", SERVICES)
def test_flags_carry_out_the_chart_security_context(rendered, profile, service):
    deployment = by_kind(rendered[profile], "Deployment")[service]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ctx, pod_ctx = container["securityContext"], pod["securityContext"]
    flags = pod_run(deployment).flags
    assert flag_value(flags, "--user") == [f"{ctx['runAsUser']}:{ctx['runAsGroup']}"]
    assert flag_value(flags, "--group-add") == [str(pod_ctx["fsGroup"])]
    assert ctx["readOnlyRootFilesystem"] and {"--read-only", "--read-only-tmpfs=false"} <= set(flags)
    assert ctx["allowPrivilegeEscalation"] is False and flag_value(flags, "--security-opt") == ["no-new-privileges"]
    assert ctx["capabilities"] == {"drop": ["ALL"]} and "--cap-drop=all" in flags
    assert not any(flag.startswith("--cap-add") for flag in flags)


@pytest.mark.parametrize("profile", RUNNABLE)
@pytest.mark.parametrize("service", SERVICES)
def test_every_mount_and_variable_of_the_pod_is_passed(rendered, profile, service):
    deployment = by_kind(rendered[profile], "Deployment")[service]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    run = pod_run(deployment)
    volumes = {v["name"]: v for v in pod["volumes"]}
    writable = {m["mountPath"] for m in container["volumeMounts"] if "emptyDir" in volumes[m["name"]]}
    assert writable == {value.split(":", 1)[0] for value in flag_value(run.flags, "--tmpfs")}
    assert "/tmp" in writable, "HOME, caches and the store live under /tmp (the image's ENV)"
    secret_paths = {m["mountPath"] for m in container["volumeMounts"]
                    if {"secret", "configMap"} & set(volumes[m["name"]])}
    assert secret_paths == {mount.path for mount in run.secret_mounts}
    assert {var["name"] for var in container["env"]} == set(run.env) | set(run.secret_env)
    assert run.probe_port == container["startupProbe"]["grpc"]["port"]
    assert run.grace_seconds == pod["terminationGracePeriodSeconds"]


@pytest.mark.parametrize("change", [
    lambda pod: pod["containers"][0]["securityContext"].update(seLinuxOptions={"level": "s0"}),
    lambda pod: pod["securityContext"].update(sysctls=[{"name": "net.core.somaxconn", "value": "1024"}]),
    lambda pod: pod["containers"][0].update(command=["sh"]),
    lambda pod: pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    or pod["containers"][0]["volumeMounts"].append({"name": "host", "mountPath": "/host"}),
    lambda pod: pod["containers"][0]["env"].append({"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}),
], ids=["seLinuxOptions", "sysctls", "command", "hostPath", "fieldRef"])
def test_a_pod_field_the_image_tests_cannot_reproduce_fails(rendered, change):
    deployment = copy.deepcopy(by_kind(rendered["cpu"], "Deployment")["gateway"])
    change(deployment["spec"]["template"]["spec"])
    with pytest.raises(UnsupportedField):
        pod_run(deployment)


def test_make_images_tags_what_the_chart_runs(helm):
    """`make images` tags each image with the name the chart renders for image.registry=localhost and
    values-cpu.yaml: the images the image tests (and a local cluster) run."""
    out = template(helm, "-f", str(CHART / "values-cpu.yaml"), "--set", "image.registry=localhost")
    assert out.returncode == 0, out.stderr
    deployments = by_kind([doc for doc in yaml.safe_load_all(out.stdout) if doc], "Deployment")
    chart = {name: d["spec"]["template"]["spec"]["containers"][0]["image"] for name, d in deployments.items()}
    names = subprocess.run(["bash", str(REPO / "shared" / "infra" / "images.sh"), "--names"],
                           capture_output=True, text=True, check=True, timeout=30).stdout
    assert dict(line.split() for line in names.splitlines()) == chart
