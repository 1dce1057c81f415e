"""The Kafka security settings and the least-privilege ACL table derived from the chain."""

from __future__ import annotations

import pytest

from fittingroom.chain import CHAIN, DLQ, FAILED, GATEWAY, PROGRESS_TOPICS, REQUESTS, SERVICES, STATUS
from fittingroom.errors import SettingsError
from fittingroom.kafka_auth import (
    INGRESS_PREFIX, KafkaSecurity, Pattern, Resource, ingress_topic, local_users, service_acls, service_user,
    shop_acls, tenant_of_ingress,
)
from fittingroom.settings import Settings


def _granted(rules, service: str, operation: str, resource: Resource = Resource.TOPIC) -> set[str]:
    principal = f"User:{service_user(service)}"
    return {r.name for r in rules if r.principal == principal and r.operation == operation and r.resource == resource}


def test_each_stage_reads_its_input_and_writes_its_output_failed_and_dlq_only():
    rules = service_acls("fittingroom")
    for spec in CHAIN:
        assert _granted(rules, spec.name, "READ") == {spec.input_topic}
        assert _granted(rules, spec.name, "WRITE") == {spec.output_topic, FAILED, DLQ}


def test_the_gateway_reads_progress_status_and_ingress_and_writes_requests_status_dlq():
    rules = service_acls("fittingroom")
    assert _granted(rules, GATEWAY.name, "READ") == {*PROGRESS_TOPICS, STATUS, INGRESS_PREFIX}
    assert _granted(rules, GATEWAY.name, "WRITE") == {REQUESTS, STATUS, DLQ}
    ingress = [r for r in rules if r.name == INGRESS_PREFIX]
    assert [(r.principal, r.pattern, r.operation) for r in ingress] == [
        (f"User:{service_user('gateway')}", Pattern.PREFIXED, "READ")]


def test_each_topic_has_exactly_one_kind_of_writer_per_stage_chain_step():
    """Only the stage before a topic writes it (the gateway writes the chain's head)."""
    rules = service_acls("fittingroom")
    writers = {spec.output_topic: {r.principal for r in rules if r.operation == "WRITE" and r.name == spec.output_topic}
               for spec in CHAIN}
    assert writers == {spec.output_topic: {f"User:{service_user(spec.name)}"} for spec in CHAIN}
    assert {r.principal for r in rules if r.operation == "WRITE" and r.name == REQUESTS} == {
        f"User:{service_user('gateway')}"}


def test_groups_and_transactional_ids_are_each_services_own_prefix_and_no_prefix_covers_another():
    rules = service_acls("it-1234")
    for kind, operation in ((Resource.GROUP, "READ"), (Resource.TRANSACTIONAL_ID, "WRITE")):
        owned = {s.name: _granted(rules, s.name, operation, kind) for s in SERVICES}
        assert owned == {s.name: {f"it-1234-{s.name}"} for s in SERVICES}
        prefixes = [name for names in owned.values() for name in names]
        assert not any(a != b and b.startswith(a) for a in prefixes for b in prefixes)
    assert all(r.pattern == Pattern.PREFIXED for r in rules if r.resource != Resource.TOPIC)


def test_no_rule_grants_cluster_wide_or_wildcard_access():
    rules = service_acls("fittingroom") + shop_acls("acme", "shop-acme")
    assert all(r.name not in ("*", "") and r.operation in ("READ", "WRITE") for r in rules)
    assert {r.resource for r in rules} <= {Resource.TOPIC, Resource.GROUP, Resource.TRANSACTIONAL_ID}


def test_usernames_can_be_chosen_per_service():
    rules = service_acls("fittingroom", {"style": "team-style"})
    assert {r.principal for r in rules if r.name == "tryon.styled" and r.operation == "WRITE"} == {"User:team-style"}


def test_a_shop_may_write_its_own_ingress_topic_only():
    assert [(r.principal, r.resource, r.name, r.pattern, r.operation) for r in shop_acls("acme", "shop-acme")] == [
        ("User:shop-acme", Resource.TOPIC, "tryon.ingress.acme", Pattern.LITERAL, "WRITE")]


@pytest.mark.parametrize("tenant", ["", "Acme", "a/b", "a.b", "-x", "x" * 64])
def test_tenant_names_that_could_escape_their_topic_are_refused(tenant):
    with pytest.raises(SettingsError):
        ingress_topic(tenant)


def test_the_tenant_of_an_ingress_topic():
    assert tenant_of_ingress("tryon.ingress.acme") == "acme"
    assert tenant_of_ingress("tryon.requests") is None
    assert tenant_of_ingress("tryon.ingress.a.b") is None


def test_local_users_are_the_admin_and_one_per_service():
    assert local_users() == ("fittingroom-admin", *(f"fittingroom-{s.name}" for s in SERVICES))


def test_sasl_ssl_is_the_default_and_needs_a_user():
    with pytest.raises(SettingsError, match="FITTINGROOM_KAFKA_USERNAME"):
        Settings.from_env({}).kafka_security()


def test_sasl_ssl_client_config(tmp_path):
    password = tmp_path / "password"
    password.write_text("s3cret\n")
    settings = Settings.from_env({"FITTINGROOM_KAFKA_USERNAME": "fittingroom-style",
                                  "FITTINGROOM_KAFKA_PASSWORD_FILE": str(password),
                                  "FITTINGROOM_KAFKA_CA": "/ca.crt"})
    assert settings.kafka_security().client_config() == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "fittingroom-style",
        "sasl_plain_password": "s3cret", "ssl_cafile": "/ca.crt", "ssl_check_hostname": True,
        "ssl_certfile": None, "ssl_keyfile": None}


def test_mutual_tls_and_explicit_plaintext():
    mtls = KafkaSecurity("SSL", ca="/ca.crt", cert="/c.crt", key="/c.key")
    mtls.validate()
    assert mtls.client_config()["ssl_certfile"] == "/c.crt" and "sasl_mechanism" not in mtls.client_config()
    assert Settings.from_env({"FITTINGROOM_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}).kafka_security().client_config() == {
        "security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize("env, message", [
    ({"FITTINGROOM_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "SECURITY_PROTOCOL"),
    ({"FITTINGROOM_KAFKA_SASL_MECHANISM": "PLAIN", "FITTINGROOM_KAFKA_USERNAME": "u",
      "FITTINGROOM_KAFKA_PASSWORD": "p"}, "SASL_MECHANISM"),
    ({"FITTINGROOM_KAFKA_SECURITY_PROTOCOL": "SSL", "FITTINGROOM_KAFKA_CERT": "/c.crt"}, "KAFKA_KEY"),
    ({"FITTINGROOM_KAFKA_USERNAME": "u", "FITTINGROOM_KAFKA_PASSWORD_FILE": "/nonexistent"}, "PASSWORD_FILE"),
])
def test_bad_kafka_security_names_the_variable(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env).kafka_security()
