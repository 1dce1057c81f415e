"""The Helm chart: lint, render per profile, schema validation, and what operators rely on."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
from deploy_support import (
    ALL_PROFILES, BASE_VALUES, CHART, GPU_SERVICES, KUBE_VERSION, NAMESPACE, PROFILES, SERVICES, by_kind, run_helm, template,
)

CRD_SCHEMAS = json.loads((Path(__file__).parent / "crd_schemas.json").read_text())


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_helm_lint_strict(helm, profile):
    out = run_helm(helm, "lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART), *BASE_VALUES,
                   *ALL_PROFILES[profile])
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_every_object_validates(rendered, profile):
    for obj in rendered[profile]:
        key = f"{obj['apiVersion']}/{obj['kind']}"
        if key in CRD_SCHEMAS:
            jsonschema.validate(obj, CRD_SCHEMAS[key])
        else:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def test_validation_rejects_unknown_fields(rendered):
    scaled = dict(by_kind(rendered["defaults"], "ScaledObject")["style"])
    scaled["spec"] = {**scaled["spec"], "maxReplicas": 3}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, CRD_SCHEMAS["keda.sh/v1alpha1/ScaledObject"])
    deployment = dict(by_kind(rendered["defaults"], "Deployment")["style"])
    deployment["spec"] = {**deployment["spec"], "replica": 3}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)


@pytest.mark.parametrize("profile", PROFILES)
def test_five_independent_deployments(rendered, profile):
    deployments = by_kind(rendered[profile], "Deployment")
    assert sorted(deployments) == sorted(SERVICES)
    selectors = [json.dumps(d["spec"]["selector"], sort_keys=True) for d in deployments.values()]
    assert len(set(selectors)) == len(SERVICES)
    for kind in ("ServiceAccount", "PodDisruptionBudget", "ServiceMonitor"):
        assert sorted(by_kind(rendered[profile], kind)) == sorted(SERVICES), kind
    headless = [f"{name}-headless" for name in SERVICES if name != "gateway"]
    assert sorted(by_kind(rendered[profile], "Service")) == sorted([*SERVICES, *headless])


def _pod(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


def _container(deployment: dict) -> dict:
    [container] = _pod(deployment)["containers"]
    return container


def _env(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.mark.parametrize("profile, gpu_services", [
    ("defaults", GPU_SERVICES), ("cpu", ()), ("keda-off", GPU_SERVICES), ("existing-secrets", GPU_SERVICES),
])
def test_gpu_placement_exactly_on_gpu_services(rendered, profile, gpu_services):
    for name, deployment in by_kind(rendered[profile], "Deployment").items():
        pod, container = _pod(deployment), _container(deployment)
        on_gpu = name in gpu_services
        assert ("nvidia.com/gpu" in container["resources"].get("limits", {})) == on_gpu, name
        assert bool(pod.get("nodeSelector")) == on_gpu, name
        assert any(t.get("key") == "nvidia.com/gpu" for t in pod.get("tolerations", [])) == on_gpu, name
        assert _env(container)["FITTINGROOM_DEVICE"] == ("cuda" if on_gpu else "cpu")
        if name in GPU_SERVICES:
            assert container["image"].endswith("-cuda" if on_gpu else "-cpu"), container["image"]


def test_scaled_objects_match_what_workers_consume(rendered, values):
    scaled = by_kind(rendered["defaults"], "ScaledObject")
    assert sorted(scaled) == ["compositing", "segmentation", "style", "translation"]
    partitions = values["kafka"]["partitions"]
    for name, obj in scaled.items():
        worker = importlib.import_module(f"fittingroom.{name}.service").DEFINITION.worker
        [trigger] = obj["spec"]["triggers"]
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["topic"] == worker.input_topic
        assert trigger["metadata"]["consumerGroup"] == f"{values['kafka']['groupPrefix']}-{name}"
        assert obj["spec"]["maxReplicaCount"] <= partitions
        assert obj["spec"]["scaleTargetRef"]["name"] == by_kind(rendered["defaults"], "Deployment")[name]["metadata"]["name"]
    assert "gateway" in by_kind(rendered["defaults"], "HorizontalPodAutoscaler")


def test_keda_off_gives_every_service_an_hpa(rendered):
    objects = rendered["keda-off"]
    assert not by_kind(objects, "ScaledObject")
    hpas = by_kind(objects, "HorizontalPodAutoscaler")
    assert sorted(hpas) == sorted(SERVICES)
    for deployment in by_kind(objects, "Deployment").values():
        assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"


def test_max_replicas_above_partitions_is_refused(helm):
    out = template(helm, "--set", "services.style.autoscaling.maxReplicas=7", "--set", "kafka.partitions=6")
    assert out.returncode != 0
    assert "services.style.autoscaling.maxReplicas" in out.stderr


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_probes_use_grpc_health(rendered, profile):
    """The kubelet's gRPC probe cannot speak TLS: with TLS it asks the plaintext health-only port."""
    for name, deployment in by_kind(rendered[profile], "Deployment").items():
        container = _container(deployment)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        env = _env(container)
        tls = "FITTINGROOM_TLS_CERT" in env
        probed = ports["health"] if tls else ports["grpc"]
        if tls:
            assert int(env["FITTINGROOM_HEALTH_PORT"]) == probed != ports["grpc"], name
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == probed, (name, probe)
            assert "httpGet" not in container[probe] and "exec" not in container[probe]


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_nothing_runs_as_root(rendered, profile):
    pods = [_pod(d) for d in by_kind(rendered[profile], "Deployment").values()]
    pods += [job["spec"]["template"]["spec"] for job in by_kind(rendered[profile], "Job").values()]
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        for container in pod["containers"]:
            ctx = container["securityContext"]
            assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] != 0
            assert ctx["readOnlyRootFilesystem"] is True
            assert ctx["allowPrivilegeEscalation"] is False
            assert ctx["capabilities"] == {"drop": ["ALL"]}


def test_termination_outlasts_the_drain(rendered):
    for name, deployment in by_kind(rendered["defaults"], "Deployment").items():
        container = _container(deployment)
        drain = float(_env(container)["FITTINGROOM_DRAIN_SECONDS"])
        pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        # The runner may wait up to drain for its worker thread, then drain for gRPC.
        assert _pod(deployment)["terminationGracePeriodSeconds"] > pre_stop + 2 * drain, name


def test_credentials_come_from_secrets(rendered):
    defaults = rendered["defaults"]
    [secret] = by_kind(defaults, "Secret").values()
    for name, deployment in by_kind(defaults, "Deployment").items():
        env = _env(_container(deployment))
        assert env["FITTINGROOM_S3_ACCESS_KEY"]["secretKeyRef"] == {"name": secret["metadata"]["name"],
                                                                   "key": f"{name}-access-key"}
        assert env["FITTINGROOM_S3_SECRET_KEY"]["secretKeyRef"] == {"name": secret["metadata"]["name"],
                                                                   "key": f"{name}-secret-key"}


def test_existing_secrets_are_used_and_not_created(rendered):
    objects = rendered["existing-secrets"]
    assert not by_kind(objects, "Secret")
    for name, deployment in by_kind(objects, "Deployment").items():
        env = _env(_container(deployment))
        assert env["FITTINGROOM_S3_ACCESS_KEY"]["secretKeyRef"] == {"name": "fittingroom-minio-users",
                                                                   "key": f"{name}-access-key"}
    [job] = by_kind(objects, "Job").values()
    job_env = _env(job["spec"]["template"]["spec"]["containers"][0])
    assert job_env["FITTINGROOM_S3_ACCESS_KEY"]["secretKeyRef"] == {"name": "minio-credentials", "key": "rootUser"}
    assert job_env["FITTINGROOM_S3_SECRET_KEY"]["secretKeyRef"] == {"name": "minio-credentials", "key": "rootPassword"}
    for deployment in [*by_kind(objects, "Deployment").values(), job]:
        env = _env(deployment["spec"]["template"]["spec"]["containers"][0])
        assert env["FITTINGROOM_KAFKA_BOOTSTRAP"]["secretKeyRef"] == {"name": "kafka-connection", "key": "bootstrap.servers"}
    for scaled in by_kind(objects, "ScaledObject").values():
        metadata = scaled["spec"]["triggers"][0]["metadata"]
        assert metadata["bootstrapServersFromEnv"] == "FITTINGROOM_KAFKA_BOOTSTRAP"
        assert "bootstrapServers" not in metadata


# Variables the chart sets for server settings issue 10 is adding (TLS files or explicit
# plaintext, reflection); they move into Settings with the servers that read them.
CHART_AHEAD_OF_SETTINGS: set[str] = set()
# Read by OpenMP and MKL themselves when the process starts; the chart sets them from threads.torch.
LIBRARY_THREAD_VARS = {"OMP_NUM_THREADS", "MKL_NUM_THREADS"}


@pytest.mark.parametrize("profile", ["defaults", "tls-cert-manager"])
def test_env_names_are_real_settings(rendered, profile):
    from fittingroom.settings import Settings

    known = {row[0] for row in Settings.documentation()}
    assert not known & CHART_AHEAD_OF_SETTINGS, "now a setting: drop it from CHART_AHEAD_OF_SETTINGS"
    from fittingroom.s3access import ACCESS, credential_vars

    provision_only = {"FITTINGROOM_KAFKA_PARTITIONS", "FITTINGROOM_KAFKA_REPLICATION", "FITTINGROOM_REQUESTS_EXPIRY_DAYS",
                      "FITTINGROOM_KAFKA_SERVICE_USERS", "FITTINGROOM_KAFKA_PROVISION_ACLS",
                      "FITTINGROOM_S3_POLICY_PREFIX", *(var for s in ACCESS for var in credential_vars(s))}
    for deployment in by_kind(rendered[profile], "Deployment").values():
        assert set(_env(_container(deployment))) <= known | CHART_AHEAD_OF_SETTINGS | LIBRARY_THREAD_VARS
    [job] = by_kind(rendered["defaults"], "Job").values()
    assert set(_env(job["spec"]["template"]["spec"]["containers"][0])) <= known | provision_only


def test_provisioning_job_runs_before_install(rendered, values):
    [job] = by_kind(rendered["defaults"], "Job").values()
    assert "pre-install" in job["metadata"]["annotations"]["helm.sh/hook"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "fittingroom.provision"]
    assert _env(container)["FITTINGROOM_KAFKA_PARTITIONS"] == str(values["kafka"]["partitions"])
    [secret] = by_kind(rendered["defaults"], "Secret").values()
    hook_weight = int(secret["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert hook_weight < int(job["metadata"]["annotations"]["helm.sh/hook-weight"]), "secret before the job"


def test_dashboard_configmap_is_labelled_for_the_sidecar(rendered):
    [config_map] = [o for o in rendered["defaults"] if o["kind"] == "ConfigMap" and "fittingroom.json" in o["data"]]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["fittingroom.json"]) == json.loads(
        (CHART / "dashboards" / "fittingroom.json").read_text())


def test_model_references_reach_the_model_services_as_a_live_configmap_folder(rendered, values):
    from fittingroom.serving.rollout import MODEL_REF_SETTINGS

    [refs] = [o for o in rendered["defaults"] if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-models")]
    assert set(refs["data"]) == set(MODEL_REF_SETTINGS)
    assert refs["data"]["translation_model"] == values["models"]["translation"]
    for name, deployment in by_kind(rendered["defaults"], "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        container = _container(deployment)
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        if name not in ("segmentation", "style", "translation"):
            assert "models" not in mounts and "FITTINGROOM_MODEL_REFS_DIR" not in _env(container)
            continue
        assert mounts["models"]["readOnly"] is True  # a ConfigMap volume (not subPath): the kubelet updates it
        assert {"name": "models", "configMap": {"name": refs["metadata"]["name"]}} in pod["volumes"]
        assert _env(container)["FITTINGROOM_MODEL_REFS_DIR"] == mounts["models"]["mountPath"]
        assert _env(container)["FITTINGROOM_MODEL_POLL_S"] == str(values["models"]["pollSeconds"])
        # Changing a reference must not restart the pods: no checksum of the ConfigMap on the template.
        annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
        assert not any("models" in key for key in annotations)


def test_gateway_addresses_resolve_every_stage_pod(rendered):
    objects = rendered["defaults"]
    services = by_kind(objects, "Service")
    env = _env(_container(by_kind(objects, "Deployment")["gateway"]))
    for stage in SERVICES[1:]:
        headless = services[f"{stage}-headless"]
        assert headless["spec"]["clusterIP"] == "None"
        assert headless["spec"]["selector"] == services[stage]["spec"]["selector"]
        port = next(p["port"] for p in headless["spec"]["ports"] if p["name"] == "grpc")
        assert env[f"FITTINGROOM_{stage.upper()}_ADDRESS"] == f"dns:///{headless['metadata']['name']}:{port}"
    assert all(o["metadata"].get("namespace", NAMESPACE) == NAMESPACE for o in objects)
