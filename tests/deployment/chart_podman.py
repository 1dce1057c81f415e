"""A Deployment that `helm template` rendered, as `podman run` arguments: how the image
tests run each image exactly the way the chart runs it.

Everything the kubelet would apply comes from the rendered object: the user and groups,
the read-only root filesystem, dropped capabilities, no privilege escalation, the
emptyDir and Secret volumes, the environment, the memory and CPU limits, the probe's
port and the grace period. Nothing here restates the chart, and a field this
translation does not know raises :class:`UnsupportedField`, so a chart change cannot
slip past the image tests untested. Pure: no podman, no files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Kubernetes quantities this translation meets: binary suffixes and plain numbers.
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
# Security fields of the pod and the container, and how each is carried out.
POD_SECURITY = {"runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "seccompProfile"}
CONTAINER_SECURITY = {"runAsNonRoot", "runAsUser", "runAsGroup", "allowPrivilegeEscalation",
                      "readOnlyRootFilesystem", "privileged", "capabilities"}
# Container fields the translation carries out or that have no meaning outside a cluster.
CONTAINER_FIELDS = {"name", "image", "imagePullPolicy", "ports", "env", "resources", "securityContext",
                    "startupProbe", "readinessProbe", "livenessProbe", "lifecycle", "volumeMounts"}
CLUSTER_DNS = re.compile(r"^dns:///([^:/]+):\d+$")


class UnsupportedField(ValueError):
    """The rendered pod uses something the image tests cannot reproduce with podman."""


@dataclass(frozen=True)
class SecretMount:
    """A Secret or ConfigMap volume: which object, where, with which file mode (the kubelet's defaultMode)."""

    secret: str
    path: str
    mode: int


@dataclass(frozen=True)
class PodRun:
    """What podman needs to run one Deployment's container like the kubelet would."""

    image: str
    flags: list[str]  # security, tmpfs and resource flags
    fs_group: int | None  # the group that owns the pod's volumes (Secret files included)
    env: dict[str, str]  # literal values
    secret_env: dict[str, tuple[str, str]]  # name -> (Secret, key)
    secret_mounts: list[SecretMount]
    probe_port: int  # the startup probe's gRPC health port
    startup_seconds: int  # the startup probe's budget: period × failureThreshold
    grpc_port: int
    metrics_port: int
    grace_seconds: int  # terminationGracePeriodSeconds
    pre_stop_seconds: int  # the preStop sleep the kubelet runs before SIGTERM
    cluster_hosts: list[str] = field(default_factory=list)  # dns:/// names in the env


def quantity_bytes(quantity: str | int) -> int:
    """``1Gi`` -> 1073741824; plain numbers are bytes."""
    text = str(quantity)
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    if not text.isdigit():
        raise UnsupportedField(f"quantity {quantity!r}")
    return int(text)


def cpu_cores(quantity: str | int) -> str:
    """``500m`` -> ``0.5``, ``2`` -> ``2`` (podman --cpus)."""
    text = str(quantity)
    return str(int(text[:-1]) / 1000) if text.endswith("m") else text


def _unknown(kind: str, found: dict, known: set[str]) -> None:
    extra = set(found) - known
    if extra:
        raise UnsupportedField(f"{kind}: {sorted(extra)}")


def security_flags(pod: dict, container: dict) -> list[str]:
    """The pod's and container's securityContext as podman flags (container fields win, as in Kubernetes)."""
    pod_ctx, ctx = pod.get("securityContext", {}), container.get("securityContext", {})
    _unknown("pod securityContext", pod_ctx, POD_SECURITY)
    _unknown("container securityContext", ctx, CONTAINER_SECURITY)
    merged = {**pod_ctx, **ctx}
    if merged.get("runAsNonRoot") and not merged.get("runAsUser"):
        raise UnsupportedField("runAsNonRoot without a numeric runAsUser")
    if pod_ctx.get("seccompProfile", {"type": "RuntimeDefault"}) != {"type": "RuntimeDefault"}:
        raise UnsupportedField(f"seccompProfile {pod_ctx['seccompProfile']}")  # podman's default is RuntimeDefault
    if ctx.get("privileged"):
        raise UnsupportedField("privileged containers")
    flags = ["--user", f"{merged['runAsUser']}:{merged.get('runAsGroup', merged['runAsUser'])}"]
    if "fsGroup" in pod_ctx:
        flags += ["--group-add", str(pod_ctx["fsGroup"])]
    if ctx.get("readOnlyRootFilesystem"):
        # podman adds writable tmpfs on /tmp, /var/tmp and /run to a read-only root unless told not to;
        # the kubelet adds none: only the pod's volumes are writable.
        flags += ["--read-only", "--read-only-tmpfs=false"]
    if ctx.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    capabilities = ctx.get("capabilities", {})
    _unknown("capabilities", capabilities, {"drop", "add"})
    flags += [f"--cap-drop={cap.lower()}" for cap in capabilities.get("drop", [])]
    flags += [f"--cap-add={cap.lower()}" for cap in capabilities.get("add", [])]
    return flags


def volume_plan(pod: dict, container: dict) -> tuple[list[str], list[SecretMount]]:
    """(tmpfs flags of the emptyDir mounts, the Secret and ConfigMap mounts) of the container's volumeMounts."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    flags, secrets = [], []
    for mount in container.get("volumeMounts", []):
        _unknown("volumeMount", mount, {"name", "mountPath", "readOnly"})
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            _unknown("emptyDir", volume["emptyDir"], {"sizeLimit", "medium"})
            size = quantity_bytes(volume["emptyDir"].get("sizeLimit", "1Gi"))
            # An emptyDir is a writable, executable, world-writable folder (mode 0777).
            flags += ["--tmpfs", f"{mount['mountPath']}:rw,exec,size={size},mode=1777"]
        elif "secret" in volume or "configMap" in volume:
            kind, source = ("Secret", volume["secret"]) if "secret" in volume else ("ConfigMap", volume["configMap"])
            name_field = "secretName" if kind == "Secret" else "name"
            _unknown(f"{kind} volume", source, {name_field, "defaultMode"})
            if not mount.get("readOnly"):
                raise UnsupportedField(f"writable {kind} mount {mount['mountPath']}")
            secrets.append(SecretMount(source[name_field], mount["mountPath"], source.get("defaultMode", 0o644)))
        else:
            raise UnsupportedField(f"volume {volume}")
    return flags, secrets


def resource_flags(container: dict) -> list[str]:
    """The container's limits (memory, cpu) as podman flags; requests only place pods."""
    limits = container.get("resources", {}).get("limits", {})
    _unknown("resource limits", limits, {"memory", "cpu", "nvidia.com/gpu"})
    if "nvidia.com/gpu" in limits:
        raise UnsupportedField("GPU limits (render with values-cpu.yaml)")
    flags = []
    if "memory" in limits:
        flags += ["--memory", str(quantity_bytes(limits["memory"]))]
    if "cpu" in limits:
        flags += ["--cpus", cpu_cores(limits["cpu"])]
    return flags


def split_env(container: dict) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """(literal variables, variables read from a Secret as (Secret, key))."""
    literal, secret = {}, {}
    for var in container.get("env", []):
        if "value" in var:
            literal[var["name"]] = str(var["value"])
        else:
            ref = var.get("valueFrom", {}).get("secretKeyRef")
            if ref is None or set(var["valueFrom"]) != {"secretKeyRef"}:
                raise UnsupportedField(f"env {var['name']}: {var.get('valueFrom')}")
            secret[var["name"]] = (ref["name"], ref["key"])
    return literal, secret


def named_port(container: dict, name: str) -> int:
    return next(p["containerPort"] for p in container["ports"] if p["name"] == name)


def pod_run(deployment: dict) -> PodRun:
    """The :class:`PodRun` of a rendered Deployment's one container."""
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    _unknown("container", container, CONTAINER_FIELDS)
    tmpfs, secret_mounts = volume_plan(pod, container)
    env, secret_env = split_env(container)
    probe = container["startupProbe"]
    if set(probe) - {"grpc", "periodSeconds", "failureThreshold", "timeoutSeconds"}:
        raise UnsupportedField(f"startupProbe {probe}")
    hosts = sorted({m[1] for value in env.values() if (m := CLUSTER_DNS.match(value))})
    return PodRun(
        image=container["image"],
        flags=security_flags(pod, container) + tmpfs + resource_flags(container),
        fs_group=pod.get("securityContext", {}).get("fsGroup"),
        env=env, secret_env=secret_env, secret_mounts=secret_mounts,
        probe_port=probe["grpc"]["port"], startup_seconds=probe["periodSeconds"] * probe["failureThreshold"],
        grpc_port=named_port(container, "grpc"), metrics_port=named_port(container, "metrics"),
        grace_seconds=pod["terminationGracePeriodSeconds"],
        pre_stop_seconds=container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0),
        cluster_hosts=hosts,
    )
