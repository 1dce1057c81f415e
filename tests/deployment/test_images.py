"""`make images-test`: the images `make images` builds, run the way the chart runs them.

Each service's Deployment is rendered with helm (values-cpu.yaml, the local stack's
ports, Kafka and MinIO) and run with the podman flags :mod:`chart_podman` reads from
it: user 10001, a read-only root filesystem with only the chart's emptyDirs writable,
every capability dropped, no privilege escalation, the chart's environment and
Secrets. Against real Kafka (SASL_SSL, a SCRAM user per service) and MinIO: the
host's from ``make infra-up`` when its environment is set, else a private pair.
Each container must reach SERVING within the chart's startup budget and serve
/metrics; a try-on through the containerised gateway (TryOn, and Submit + Watch)
must equal embedded mode's; SIGTERM must drain and exit 0 within the grace period.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Iterator

import grpc
import numpy as np
import pytest
import yaml
from chart_podman import pod_run
from deploy_support import CHART, REPO, by_kind, template
from grpc_health.v1 import health_pb2, health_pb2_grpc
from podman_pods import Container, LocalSecrets, podman_available, start_container

from fittingroom.cli.client import ApiKeyInterceptor
from fittingroom.cli.localstack import SERVICES, Stack, plan_stack, start_infra, stop_infra
from fittingroom.images import SAMPLES_DIR, decode_image
from fittingroom.kafka_auth import read_password
from fittingroom.tensors import get_object
from fittingroom.v1 import events_pb2, tryon_pb2, tryon_pb2_grpc

pytestmark = pytest.mark.skipif(not podman_available(), reason="podman absent")

# The Secrets the rendered pods name that no FITTINGROOM_* variable of the local stack holds.
KAFKA_CA_SECRET = "kafka-ca"
API_KEYS_SECRET = "fittingroom-api-keys"
# Settings of the local stack the containers get too (through each service's chart `env`):
# quick batches and one torch thread each, for a 2-core machine.
TUNING = ("FITTINGROOM_WORKER_MAX_WAIT_MS", "FITTINGROOM_TORCH_THREADS")
REPORT = REPO / "out" / "images" / "images-test.json"
# Where the image points Python, torch, matplotlib and the services' own state (its ENV).
WRITABLE_STATE = ("HOME", "XDG_CACHE_HOME", "MPLCONFIGDIR", "FITTINGROOM_STORE_DIR")


@pytest.fixture(scope="module")
def images(pytestconfig: pytest.Config) -> None:
    """Every image built (or found up to date) by `make images`' script, its progress on the terminal
    (minutes on a fresh machine, seconds after a code change)."""
    with pytestconfig.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        out = subprocess.run(["bash", str(REPO / "shared" / "infra" / "images.sh")], timeout=3600)
    assert out.returncode == 0, "make images failed (its log is above)"


@pytest.fixture(scope="module")
def infra_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The host's Kafka and MinIO (``make infra-up``'s environment) or a private pair."""
    if os.environ.get("FITTINGROOM_KAFKA_BOOTSTRAP") and os.environ.get("FITTINGROOM_S3_ENDPOINT"):
        yield {k: v for k, v in os.environ.items() if k.startswith("FITTINGROOM_")}
        return
    env = start_infra(tmp_path_factory.mktemp("infra"))
    try:
        yield env
    finally:
        stop_infra(env)


@pytest.fixture(scope="module")
def stack(infra_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """The local stack's settings for every service (models seeded, ACLs granted), no process started."""
    return plan_stack(infra_env, tmp_path_factory.mktemp("stack"))


def chart_sets(stack: Stack, infra_env: dict[str, str]) -> list[str]:
    """``--set`` arguments that point the chart at the local stack's Kafka, MinIO, users and ports."""
    values = {
        "image.registry": "localhost",
        "kafka.bootstrap": infra_env["FITTINGROOM_KAFKA_BOOTSTRAP"],
        "kafka.groupPrefix": stack.env["FITTINGROOM_KAFKA_GROUP_PREFIX"],
        "kafka.caSecret": KAFKA_CA_SECRET,
        "s3.endpoint": infra_env["FITTINGROOM_S3_ENDPOINT"],
        "s3.requestsBucket": infra_env["FITTINGROOM_REQUESTS_BUCKET"],
        "s3.modelsBucket": infra_env["FITTINGROOM_MODELS_BUCKET"],
        "apiKeys.existingSecret": API_KEYS_SECRET,
    }
    for name, service in stack.services.items():
        values[f"kafka.usernames.{name}"] = service.env["FITTINGROOM_KAFKA_USERNAME"]
        values[f"services.{name}.grpcPort"] = service.port
        values[f"services.{name}.metricsPort"] = service.metrics_port
        values.update({f"services.{name}.env.{key}": stack.env[key] for key in TUNING})
    return [arg for key, value in values.items() for arg in ("--set-string", f"{key}={value}")]


def local_secrets(stack: Stack, infra_env: dict[str, str], deployments: dict[str, dict],
                  config_maps: dict[str, dict]) -> LocalSecrets:
    """The chart's Secrets filled from the local stack: each Secret key a pod reads as FITTINGROOM_X holds
    the service's own local FITTINGROOM_X (its MinIO pair, its Kafka password); its ConfigMaps as rendered."""
    values = {
        (KAFKA_CA_SECRET, "ca.crt"): Path(infra_env["FITTINGROOM_KAFKA_CA"]).read_text(),
        (API_KEYS_SECRET, "api-keys"): stack.api_keys_file.read_text(),
        **{(name, key): value for name, config_map in config_maps.items()
           for key, value in config_map.get("data", {}).items()},
    }
    for name, deployment in deployments.items():
        local = dict(stack.services[name].env)
        local["FITTINGROOM_KAFKA_PASSWORD"] = read_password(local["FITTINGROOM_KAFKA_PASSWORD_FILE"])
        for var, ref in pod_run(deployment).secret_env.items():
            assert values.setdefault(ref, local[var]) == local[var], f"{ref} would hold two values"
    return LocalSecrets(values)


@pytest.fixture(scope="module")
def rendered_for_stack(helm: str, stack: Stack, infra_env: dict[str, str]) -> list[dict]:
    """The chart's objects as rendered for the local stack (CPU images)."""
    out = template(helm, "-f", str(CHART / "values-cpu.yaml"), *chart_sets(stack, infra_env))
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="module")
def deployments(rendered_for_stack: list[dict]) -> dict[str, dict]:
    """Service -> its Deployment as the chart renders it for the local stack."""
    return by_kind(rendered_for_stack, "Deployment")


def health(port: int) -> int | None:
    """The gRPC health status on 127.0.0.1:port, None while nothing answers."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2).status
        except grpc.RpcError:
            return None


def wait_serving(container: Container) -> float:
    """Seconds from `podman run` to SERVING on the probe port; fails if the container dies or the
    chart's startup budget (startupProbe period × failureThreshold) runs out."""
    deadline = container.started + container.run.startup_seconds
    while health(container.run.probe_port) != health_pb2.HealthCheckResponse.SERVING:
        assert container.running(), f"{container.name} exited:\n{container.logs()}"
        assert time.monotonic() < deadline, f"{container.name} not SERVING in {container.run.startup_seconds}s:\n" \
                                            f"{container.logs()}"
        time.sleep(0.2)
    return time.monotonic() - container.started


@pytest.fixture(scope="module")
def containers(images, stack: Stack, infra_env: dict[str, str], deployments: dict[str, dict],
               rendered_for_stack: list[dict], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Container]]:
    """All five services running in their images, each SERVING; start-to-SERVING times go to the report."""
    work = tmp_path_factory.mktemp("pods")
    config_maps = {doc["metadata"]["name"]: doc for doc in rendered_for_stack if doc["kind"] == "ConfigMap"}
    secrets = local_secrets(stack, infra_env, deployments, config_maps)
    prefix = f"fr-images-{uuid.uuid4().hex[:6]}"
    running: dict[str, Container] = {}
    try:
        started = {}
        for name in SERVICES:  # one at a time, so each time is the service's own, not the machine's contention
            running[name] = start_container(f"{prefix}-{name}", pod_run(deployments[name]), secrets, work)
            started[name] = round(wait_serving(running[name]), 1)
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(json.dumps({"start_to_serving_s": started}, indent=2))
        print(f"\nstart to SERVING (s): {started}")
        yield running
    finally:
        for container in running.values():
            container.remove()


def proc_status(container: Container) -> dict[str, str]:
    """/proc/1/status of the container's service process."""
    lines = container.exec("cat", "/proc/1/status").splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


@pytest.mark.parametrize("service", SERVICES)
def test_runs_as_the_chart_says(containers, deployments, service):
    """uid/gid 10001 with the fsGroup, no capabilities, no new privileges, read-only root, writable emptyDirs."""
    container = containers[service]
    pod = deployments[service]["spec"]["template"]["spec"]
    status = proc_status(container)
    context = pod["securityContext"]
    assert status["Uid"].split()[:2] == [str(context["runAsUser"])] * 2
    assert status["Gid"].split()[:2] == [str(context["runAsGroup"])] * 2
    assert str(context["fsGroup"]) in status["Groups"].split()
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0 and int(status["CapBnd"], 16) == 0
    assert status["NoNewPrivs"].strip() == "1"
    probe = "touch {0}/.w && rm {0}/.w"
    writable = [m["mountPath"] for m in pod["containers"][0]["volumeMounts"] if not m.get("readOnly")]
    for path in writable:
        container.exec("sh", "-c", probe.format(path))
    for path in ("/", "/opt/venv", "/etc", "/var/tmp", "/run"):
        with pytest.raises(subprocess.CalledProcessError):
            container.exec("sh", "-c", probe.format(path))
    env = dict(line.split("=", 1) for line in container.exec("env").splitlines() if "=" in line)
    for var in WRITABLE_STATE:
        assert any(env[var].startswith(path) for path in writable), f"{var}={env[var]} is not on a writable mount"


@pytest.mark.parametrize("service", SERVICES)
def test_exposes_metrics(containers, service):
    port = containers[service].run.metrics_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert "fittingroom_" in text


@pytest.fixture(scope="module")
def client(containers, stack: Stack) -> Iterator[tryon_pb2_grpc.TryOnServiceStub]:
    """A TryOn client of the containerised gateway, with the local tenant's API key."""
    channel = grpc.insecure_channel(f"127.0.0.1:{containers['gateway'].run.grpc_port}")
    yield tryon_pb2_grpc.TryOnServiceStub(grpc.intercept_channel(channel, ApiKeyInterceptor(stack.api_key)))
    channel.close()


@pytest.fixture(scope="module")
def embedded_result(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """The sample pair's try-on in embedded mode (the starter models, one process)."""
    from fittingroom.cli.pipeline import TryOnPipeline
    from fittingroom.registry import ModelRegistry
    from fittingroom.settings import Settings
    from fittingroom.storage import LocalFolderStore

    settings = Settings.from_env({}, device="cpu", store_dir=tmp_path_factory.mktemp("embedded"))
    pipeline = TryOnPipeline(ModelRegistry.with_starter_models(LocalFolderStore(settings.store_dir)), settings)
    person, style = (decode_image((SAMPLES_DIR / n).read_bytes()) for n in ("person.jpg", "style.jpg"))
    return pipeline.run(person, style).image


def sample_request(**fields) -> tryon_pb2.TryOnRequest:
    return tryon_pb2.TryOnRequest(person_image=(SAMPLES_DIR / "person.jpg").read_bytes(),
                                  style_image=(SAMPLES_DIR / "style.jpg").read_bytes(), **fields)


def test_grpc_tryon_equals_embedded_mode(client, embedded_result):
    reply = client.TryOn(sample_request(return_image=True), timeout=300)
    assert np.array_equal(decode_image(reply.image), embedded_result)


def test_submit_and_watch_equals_embedded_mode(client, embedded_result, infra_env):
    from fittingroom.s3store import MinioStore

    request_id = client.Submit(sample_request(), timeout=30).request_id
    statuses = list(client.Watch(tryon_pb2.GetRequest(request_id=request_id), timeout=300))
    assert [s.stage for s in statuses] == [events_pb2.SUBMITTED, events_pb2.SEGMENTED, events_pb2.STYLED,
                                           events_pb2.TRANSLATED, events_pb2.COMPLETED]
    store = MinioStore(infra_env["FITTINGROOM_S3_ENDPOINT"], infra_env["FITTINGROOM_S3_ACCESS_KEY"],
                       infra_env["FITTINGROOM_S3_SECRET_KEY"], infra_env["FITTINGROOM_REQUESTS_BUCKET"])
    assert np.array_equal(decode_image(get_object(store, statuses[-1].result)), embedded_result)


def test_sigterm_drains_and_exits_zero_within_the_grace_period(containers):
    """The kubelet runs the preStop sleep, then SIGTERM; what is left of the grace period is the budget."""
    sent = time.monotonic()
    for container in containers.values():
        container.terminate()
    took = {}
    for name, container in containers.items():
        budget = container.run.grace_seconds - container.run.pre_stop_seconds
        try:
            code = container.wait_exit(max(1.0, budget - (time.monotonic() - sent)))
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name} still running {budget}s after SIGTERM:\n{container.logs()}")
        took[name] = round(time.monotonic() - sent, 1)
        assert code == 0, f"{name} exited {code}:\n{container.logs()}"
    report = json.loads(REPORT.read_text())
    REPORT.write_text(json.dumps({**report, "sigterm_to_exit_s": took}, indent=2))
