"""Runs the images with podman the way the chart runs them (the adapter around :mod:`chart_podman`).

Each container gets the flags :func:`chart_podman.pod_run` read from the rendered
Deployment, host networking to reach the host's Kafka and MinIO, the chart's Secrets
filled from the local stack (files owned by the pod's fsGroup with the Secret's mode,
as the kubelet mounts them), and the cluster DNS names of the gateway's stage
addresses pointed at loopback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from chart_podman import PodRun

RUNTIME = os.environ.get("FITTINGROOM_PODMAN_RUNTIME", "runc")
# crun fails on hosts with hybrid cgroups and podman refuses unlimited rlimits (shared/infra/podman.sh).
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"]


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """``podman --runtime runc ARGS`` with captured text output."""
    return subprocess.run(["podman", "--runtime", RUNTIME, *args], capture_output=True, text=True,
                          timeout=timeout, check=check)


@dataclass(frozen=True)
class LocalSecrets:
    """The chart's Secrets as the local stack holds them: (Secret, key) -> value."""

    values: dict[tuple[str, str], str]

    def folder(self, secret: str, mode: int, group: int, into: Path) -> Path:
        """The Secret's keys as files under ``into``, group ``group`` and mode ``mode`` (what the kubelet mounts)."""
        folder = into / secret
        folder.mkdir(parents=True, exist_ok=True)
        for (name, key), value in self.values.items():
            if name == secret:
                path = folder / key
                path.write_text(value)
                os.chown(path, 0, group)
                path.chmod(mode)
        os.chown(folder, 0, group)
        folder.chmod(0o750)
        return folder


@dataclass
class Container:
    """One running service container."""

    name: str
    run: PodRun
    started: float  # time.monotonic() at `podman run`

    def logs(self) -> str:
        out = podman("logs", self.name, check=False)
        return (out.stdout + out.stderr)[-4000:]

    def exec(self, *command: str) -> str:
        return podman("exec", self.name, *command).stdout

    def running(self) -> bool:
        out = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return out.stdout.strip() == "true"

    def terminate(self) -> None:
        podman("kill", "--signal", "TERM", self.name)

    def wait_exit(self, timeout_s: float) -> int:
        """The container's exit status once it stopped (raises TimeoutExpired after ``timeout_s``)."""
        return int(podman("wait", self.name, timeout=timeout_s).stdout.strip())

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name, check=False)


def start_container(name: str, run: PodRun, secrets: LocalSecrets, work: Path) -> Container:
    """``podman run -d`` of one rendered Deployment's container, named ``name``."""
    env = dict(run.env)
    for var, (secret, key) in run.secret_env.items():
        env[var] = secrets.values[(secret, key)]
    env_file = work / f"{name}.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    env_file.chmod(0o600)
    mounts = []
    for mount in run.secret_mounts:
        folder = secrets.folder(mount.secret, mount.mode, run.fs_group or 0, work / "secrets")
        mounts += ["--volume", f"{folder}:{mount.path}:ro"]
    hosts = [flag for host in run.cluster_hosts for flag in ("--add-host", f"{host}:127.0.0.1")]
    podman("rm", "--force", "--time", "0", name, check=False)
    started = time.monotonic()
    podman("run", "--detach", "--name", name, "--network", "host", *ULIMITS, *run.flags, *mounts, *hosts,
           "--env-file", str(env_file), run.image)
    return Container(name, run, started)


def podman_available() -> bool:
    """podman and the runtime it is run with are installed."""
    return shutil.which("podman") is not None and shutil.which(RUNTIME) is not None
