"""The chart's security: no fixed credential in any Secret, TLS files from a Secret or
cert-manager, NetworkPolicies that let only the gateway, the ingress controller and
Prometheus in, reflection off."""

from __future__ import annotations

import base64

import pytest
import yaml
from deploy_support import ALL_PROFILES, CHART, KUBE_VERSION, NAMESPACE, SERVICES, by_kind, run_helm, template

from fittingroom.s3access import ACCESS

TLS_DIR = "/etc/fittingroom/tls"
TLS_ENV = {"FITTINGROOM_TLS_CERT": f"{TLS_DIR}/tls.crt", "FITTINGROOM_TLS_KEY": f"{TLS_DIR}/tls.key",
           "FITTINGROOM_TLS_CA": f"{TLS_DIR}/ca.crt"}


def _scalars(node) -> set[str]:
    """Every scalar written in a values file, as text."""
    if isinstance(node, dict):
        return set().union(*(_scalars(v) for v in node.values()), set())
    if isinstance(node, list):
        return set().union(*(_scalars(v) for v in node), set())
    return {str(node)}


def _secret_values(objects: list[dict]) -> dict[tuple[str, str], str]:
    """(Secret name, key) -> decoded value, for every Secret of a render."""
    found = {}
    for obj in objects:
        if obj["kind"] == "Secret":
            for key, value in (obj.get("data") or {}).items():
                found[(obj["metadata"]["name"], key)] = base64.b64decode(value).decode()
            for key, value in (obj.get("stringData") or {}).items():
                found[(obj["metadata"]["name"], key)] = value
    return found


def _render(helm: str, *args: str) -> list[dict]:
    out = template(helm, *args)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_no_secret_holds_a_fixed_credential(helm, profile):
    """Two renders draw different keys, none of them written in any values file."""
    literals = set().union(*(_scalars(yaml.safe_load((CHART / name).read_text()))
                             for name in ("values.yaml", "values-cpu.yaml", "values-dev.yaml")))
    first = _secret_values(_render(helm, *ALL_PROFILES[profile]))
    second = _secret_values(_render(helm, *ALL_PROFILES[profile]))
    assert first.keys() == second.keys()
    for key, value in first.items():
        assert value not in literals, (profile, key)
        assert len(value) >= 20, (profile, key)
        assert value != second[key], f"{key} is the same in two renders: a fixed default"


def test_default_install_generates_the_minio_keys(rendered):
    [secret] = by_kind(rendered["defaults"], "Secret").values()
    assert set(secret["data"]) == {f"{service}-{key}" for service in SERVICES for key in ("access-key", "secret-key")}
    assert "stringData" not in secret


def test_each_service_runs_as_its_own_minio_user_and_only_the_job_holds_the_admin_keys(rendered):
    """Each Deployment reads its own pair from the Secret; the Job creates all of them with the admin pair."""
    objects = rendered["defaults"]
    [secret] = by_kind(objects, "Secret").values()
    secret_name = secret["metadata"]["name"]
    pairs = set()
    for name, deployment in by_kind(objects, "Deployment").items():
        env = _env(deployment)
        refs = {var: env[var]["secretKeyRef"] for var in ("FITTINGROOM_S3_ACCESS_KEY", "FITTINGROOM_S3_SECRET_KEY")}
        assert refs == {"FITTINGROOM_S3_ACCESS_KEY": {"name": secret_name, "key": f"{name}-access-key"},
                        "FITTINGROOM_S3_SECRET_KEY": {"name": secret_name, "key": f"{name}-secret-key"}}, name
        assert not [var for var in env if var.startswith("FITTINGROOM_S3_") and var.endswith(tuple(
            f"_{s.upper()}" for s in SERVICES))], f"{name} holds another service's pair"
        assert "minio-admin" not in str(env), f"{name} holds the admin keys"
        pairs.add(refs["FITTINGROOM_S3_ACCESS_KEY"]["key"])
    assert len(pairs) == len(SERVICES)
    [job] = by_kind(objects, "Job").values()
    job_env = _env(job)
    assert job_env["FITTINGROOM_S3_ACCESS_KEY"]["secretKeyRef"] == {"name": "minio-admin", "key": "rootUser"}
    for service in SERVICES:
        for var, key in (("ACCESS", "access-key"), ("SECRET", "secret-key")):
            assert job_env[f"FITTINGROOM_S3_{var}_KEY_{service.upper()}"]["secretKeyRef"] == {
                "name": secret_name, "key": f"{service}-{key}"}


def test_the_chart_provisions_a_user_for_every_service_of_the_access_table(values):
    """The Secret and the Job range over .Values.services; fittingroom.s3access.ACCESS names the same services."""
    assert set(values["services"]) == set(ACCESS)


def test_the_provisioning_job_needs_the_minio_admin_secret(helm):
    out = run_helm(helm, "template", "fr", str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION,
                   "--set", f"kafka.usersSecret={USERS_SECRET}")
    assert out.returncode != 0
    assert "s3.admin.existingSecret is required" in out.stderr
    assert _render(helm, "--set", "provision.enabled=false", "--set", "s3.admin.existingSecret=")


def test_generated_keys_are_kept_across_upgrades():
    """The keys are read back from the live Secret (lookup) before any are drawn.

    `helm template` cannot reach a cluster, so this reads the template: each key
    comes from the looked-up Secret first, and only falls back to a random draw.
    """
    text = (CHART / "templates" / "secret.yaml").read_text()
    assert 'lookup "v1" "Secret" .Release.Namespace $name' in text
    assert "get $kept $access | default (printf" in text and "(randAlphaNum 20)" in text
    assert "get $kept $secret | default (randAlphaNum 40" in text


def test_values_offer_no_key_pair(values):
    assert "accessKey" not in values["s3"] and "secretKey" not in values["s3"]


def _pod(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


def _env(deployment: dict) -> dict:
    [container] = _pod(deployment)["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def _tls_secret_mounted(deployment: dict) -> str | None:
    """Name of the Secret mounted read-only at the TLS folder, if any."""
    pod = _pod(deployment)
    [container] = pod["containers"]
    mounts = [m for m in container.get("volumeMounts", []) if m["mountPath"] == TLS_DIR]
    if not mounts:
        return None
    [mount] = mounts
    assert mount["readOnly"] is True
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    return volume["secret"]["secretName"]


# ---- TLS


def test_tls_off_is_explicit_plaintext_and_mounts_nothing(rendered):
    assert not by_kind(rendered["defaults"], "Certificate")
    for name, deployment in by_kind(rendered["defaults"], "Deployment").items():
        env = _env(deployment)
        assert env["FITTINGROOM_TLS_PLAINTEXT"] == "true", name
        assert not set(TLS_ENV) & set(env), name
        assert _tls_secret_mounted(deployment) is None, name


def test_tls_from_an_existing_secret(rendered):
    objects = rendered["tls-existing-secret"]
    assert not by_kind(objects, "Certificate")
    for name, deployment in by_kind(objects, "Deployment").items():
        env = _env(deployment)
        assert _tls_secret_mounted(deployment) == "fittingroom-tls", name
        assert {key: env.get(key) for key in TLS_ENV} == TLS_ENV, name
        assert "FITTINGROOM_TLS_PLAINTEXT" not in env, name


def test_tls_from_cert_manager_one_certificate_per_service(rendered):
    objects = rendered["tls-cert-manager"]
    certificates = by_kind(objects, "Certificate")
    assert sorted(certificates) == sorted(SERVICES)
    deployments = by_kind(objects, "Deployment")
    services = by_kind(objects, "Service")
    for name, certificate in certificates.items():
        spec = certificate["spec"]
        assert spec["issuerRef"] == {"name": "fittingroom-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
        assert {"server auth", "client auth"} <= set(spec["usages"]), "mutual TLS: both ends present it"
        assert _tls_secret_mounted(deployments[name]) == spec["secretName"], name
        env = _env(deployments[name])
        assert {key: env.get(key) for key in TLS_ENV} == TLS_ENV, name
        service = services[name]["metadata"]["name"]
        assert {service, f"{service}.{NAMESPACE}.svc"} <= set(spec["dnsNames"]), name
    secret_names = [c["spec"]["secretName"] for c in certificates.values()]
    assert len(set(secret_names)) == len(SERVICES), "each service its own key"


def test_stage_certificates_cover_the_names_the_gateway_dials(rendered):
    objects = rendered["tls-cert-manager"]
    certificates = by_kind(objects, "Certificate")
    gateway_env = _env(by_kind(objects, "Deployment")["gateway"])
    for stage in SERVICES[1:]:
        address = gateway_env[f"FITTINGROOM_{stage.upper()}_ADDRESS"]  # dns:///<host>:<port>
        host = address.removeprefix("dns:///").rsplit(":", 1)[0]
        assert host in certificates[stage]["spec"]["dnsNames"], (stage, host)


@pytest.mark.parametrize("args, message", [
    (["--set", "tls.enabled=true"], "tls.enabled needs tls.existingSecret or tls.certManager.enabled"),
    (["--set", "tls.enabled=true", "--set", "tls.existingSecret=s", "--set", "tls.certManager.enabled=true",
      "--set", "tls.certManager.issuerRef.name=ca"], "not both"),
    (["--set", "tls.enabled=true", "--set", "tls.certManager.enabled=true"], "tls.certManager.issuerRef.name is required"),
])
def test_unusable_tls_choices_are_refused(helm, args, message):
    out = template(helm, *args)
    assert out.returncode != 0
    assert message in out.stderr


@pytest.mark.parametrize("args, expected", [([], "false"), (["--set", "grpc.reflection=true"], "true")])
def test_reflection_is_off_unless_enabled(helm, args, expected):
    for deployment in by_kind(_render(helm, *args), "Deployment").values():
        assert _env(deployment)["FITTINGROOM_GRPC_REFLECTION"] == expected


# ---- NetworkPolicy


def _rule_for(policy: dict, port: str) -> dict:
    [rule] = [r for r in policy["spec"]["ingress"] if [p["port"] for p in r["ports"]] == [port]]
    return rule


def test_network_policies_admit_only_gateway_ingress_and_prometheus(rendered, values):
    objects = rendered["defaults"]
    policies = by_kind(objects, "NetworkPolicy")
    deployments = by_kind(objects, "Deployment")
    assert sorted(policies) == sorted(SERVICES)
    prometheus = values["networkPolicy"]["prometheus"]
    ingress = values["networkPolicy"]["ingress"]
    gateway_pods = deployments["gateway"]["spec"]["selector"]
    for name, policy in policies.items():
        spec = policy["spec"]
        assert spec["podSelector"] == deployments[name]["spec"]["selector"], name
        assert spec["policyTypes"] == ["Ingress"]
        assert len(spec["ingress"]) == 2, "nothing but gRPC and metrics"
        container_ports = {p["name"] for p in _pod(deployments[name])["containers"][0]["ports"]}
        assert {"grpc", "metrics"} <= container_ports
        assert _rule_for(policy, "metrics")["from"] == [prometheus]
        callers = _rule_for(policy, "grpc")["from"]
        if name == "gateway":
            assert callers == [ingress]
        else:
            assert callers == [{"podSelector": gateway_pods}], name


def test_network_policy_selectors_come_from_values(helm, tmp_path):
    """Helm merges maps into the defaults; a default label goes with `label: null` (README)."""
    default_namespace = "kubernetes.io/metadata.name"
    values_file = tmp_path / "net.yaml"
    values_file.write_text(yaml.safe_dump({"networkPolicy": {
        "ingress": {"namespaceSelector": {"matchLabels": {default_namespace: None, "team": "edge"}},
                    "podSelector": {"matchLabels": {"app": "envoy"}}},
        "prometheus": {"namespaceSelector": {"matchLabels": {default_namespace: "observability"}}},
    }}))
    policies = by_kind(_render(helm, "-f", str(values_file)), "NetworkPolicy")
    assert _rule_for(policies["gateway"], "grpc")["from"] == [
        {"namespaceSelector": {"matchLabels": {"team": "edge"}}, "podSelector": {"matchLabels": {"app": "envoy"}}}]
    assert _rule_for(policies["style"], "metrics")["from"] == [
        {"namespaceSelector": {"matchLabels": {default_namespace: "observability"}},
         "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}]


def test_network_policies_can_be_turned_off(helm):
    assert not by_kind(_render(helm, "--set", "networkPolicy.enabled=false"), "NetworkPolicy")


# ---- Shop API keys


def test_the_gateway_mounts_the_api_keys_secret_and_reads_the_file_from_it(helm):
    deployments = by_kind(_render(helm, "--set", "apiKeys.existingSecret=shop-keys"), "Deployment")
    gateway = deployments["gateway"]
    env = _env(gateway)
    assert env["FITTINGROOM_API_KEYS_FILE"] == "/etc/fittingroom/api-keys/api-keys"
    assert "FITTINGROOM_ALLOW_ANONYMOUS" not in env
    [volume] = [v for v in gateway["spec"]["template"]["spec"]["volumes"] if v["name"] == "api-keys"]
    assert volume["secret"]["secretName"] == "shop-keys"
    [container] = gateway["spec"]["template"]["spec"]["containers"]
    assert {"name": "api-keys", "mountPath": "/etc/fittingroom/api-keys", "readOnly": True} in container["volumeMounts"]
    for name in SERVICES[1:]:  # the stage services never see shop keys
        assert "FITTINGROOM_API_KEYS_FILE" not in _env(deployments[name]), name


@pytest.mark.parametrize("args, anonymous", [([], None), (["--set", "apiKeys.allowAnonymous=true"], "true")])
def test_without_keys_the_gateway_is_anonymous_only_when_asked(helm, args, anonymous):
    env = _env(by_kind(_render(helm, *args), "Deployment")["gateway"])
    assert "FITTINGROOM_API_KEYS_FILE" not in env
    assert env.get("FITTINGROOM_ALLOW_ANONYMOUS") == anonymous


# ---- Kafka: SASL_SSL with one SCRAM user per service, passwords only from an existing Secret

USERS_SECRET = "fittingroom-kafka-users"  # charts/fittingroom/ci/cluster-values.yaml


def test_kafka_sasl_is_the_default_and_refuses_to_render_without_the_users_secret(helm, values):
    assert values["kafka"]["securityProtocol"] == "SASL_SSL" and values["kafka"]["usersSecret"] == ""
    assert not any("password" in key.lower() for key in values["kafka"])
    out = template(helm, base=False)
    assert out.returncode != 0 and "kafka.usersSecret is required" in out.stderr


def test_each_service_reaches_kafka_as_its_own_principal_with_a_password_from_the_secret(rendered):
    for name, deployment in by_kind(rendered["defaults"], "Deployment").items():
        env = _env(deployment)
        assert env["FITTINGROOM_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert env["FITTINGROOM_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512", name
        assert env["FITTINGROOM_KAFKA_USERNAME"] == f"fittingroom-{name}", name
        assert env["FITTINGROOM_KAFKA_PASSWORD"] == {"secretKeyRef": {"name": USERS_SECRET, "key": name}}, name
        assert "FITTINGROOM_KAFKA_CA" not in env, name


def _provision_env(objects: list[dict]) -> dict:
    [job] = by_kind(objects, "Job").values()
    [container] = job["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_provisioning_creates_the_acls_of_the_services_usernames_as_its_own_principal(helm):
    objects = _render(helm, "--set", "kafka.usernames.style=team-style")
    env = _provision_env(objects)
    assert env["FITTINGROOM_KAFKA_USERNAME"] == "fittingroom-admin"
    assert env["FITTINGROOM_KAFKA_PASSWORD"] == {"secretKeyRef": {"name": USERS_SECRET, "key": "provision"}}
    assert env["FITTINGROOM_KAFKA_PROVISION_ACLS"] == "true"
    users = dict(pair.split("=") for pair in env["FITTINGROOM_KAFKA_SERVICE_USERS"].split(","))
    assert users == {name: "team-style" if name == "style" else f"fittingroom-{name}" for name in SERVICES}
    assert _env(by_kind(objects, "Deployment")["style"])["FITTINGROOM_KAFKA_USERNAME"] == "team-style"


def test_the_brokers_ca_is_mounted_from_its_secret(helm):
    objects = _render(helm, "--set", "kafka.caSecret=kafka-ca", "--set", "kafka.caKey=root.pem")
    for name, deployment in by_kind(objects, "Deployment").items():
        assert _env(deployment)["FITTINGROOM_KAFKA_CA"] == "/etc/fittingroom/kafka-ca/root.pem", name
        volumes = {v["name"]: v for v in _pod(deployment)["volumes"]}
        assert volumes["kafka-ca"]["secret"]["secretName"] == "kafka-ca", name
    assert _provision_env(objects)["FITTINGROOM_KAFKA_CA"] == "/etc/fittingroom/kafka-ca/root.pem"


def test_keda_scalers_read_the_lag_as_the_services_principal(rendered):
    auths = by_kind(rendered["defaults"], "TriggerAuthentication")
    scaled = by_kind(rendered["defaults"], "ScaledObject")
    assert sorted(auths) == sorted(scaled)
    for name, obj in scaled.items():
        [trigger] = obj["spec"]["triggers"]
        assert trigger["metadata"]["sasl"] == "scram_sha512" and trigger["metadata"]["tls"] == "enable", name
        assert trigger["authenticationRef"]["name"] == auths[name]["metadata"]["name"], name
        spec = auths[name]["spec"]
        assert spec["env"] == [{"parameter": "username", "name": "FITTINGROOM_KAFKA_USERNAME", "containerName": name}]
        assert spec["secretTargetRef"] == [{"parameter": "password", "name": USERS_SECRET, "key": name}]


def test_plaintext_kafka_is_explicit_and_carries_no_credentials(helm):
    objects = _render(helm, "--set", "kafka.securityProtocol=PLAINTEXT")
    for name, deployment in by_kind(objects, "Deployment").items():
        env = _env(deployment)
        assert env["FITTINGROOM_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT", name
        assert not {"FITTINGROOM_KAFKA_USERNAME", "FITTINGROOM_KAFKA_PASSWORD"} & set(env), name
    assert _provision_env(objects)["FITTINGROOM_KAFKA_PROVISION_ACLS"] == "false"
    assert not by_kind(objects, "TriggerAuthentication")
    out = template(helm, "--set", "kafka.securityProtocol=SASL_PLAINTEXT")
    assert out.returncode != 0 and "expected SASL_SSL, SSL or PLAINTEXT" in out.stderr
