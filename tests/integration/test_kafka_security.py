"""Kafka's own security on the real local broker: SASL_SSL with SCRAM-SHA-512 and least-privilege ACLs.

Every refusal here comes from the broker itself (kafka.sh starts it with the
StandardAuthorizer and no access without an ACL); nothing is mocked. What a client
tried to write is checked by reading the topic back as the admin.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import grpc
import pytest
from kafka.errors import TopicAuthorizationFailedError

from conftest import wait_final
from fittingroom.bus import TopicReader, make_producer, publish
from fittingroom.chain import COMPLETED, DLQ, REQUESTS, stage
from fittingroom.cli.client import ApiKeyInterceptor
from fittingroom.cli.localstack import infra_kafka_security
from fittingroom.errors import BusError, BusUnavailableError
from fittingroom.images import SAMPLES_DIR
from fittingroom.kafka_auth import KafkaSecurity, ingress_topic, service_user
from fittingroom.provision import ensure_shop
from fittingroom.apikeys import add_key
from fittingroom.tensors import put_object, request_key, tenant_request_id
from fittingroom.v1 import events_pb2, tryon_pb2_grpc

QUICK = {"bootstrap_timeout_ms": 4000}  # a refused client gives up after this long, not kafka-python's 30 s


@pytest.fixture(scope="module")
def admin_security(infra) -> KafkaSecurity:
    security = infra_kafka_security(infra.env)
    if security.protocol != "SASL_SSL" or "FITTINGROOM_KAFKA_USERS_DIR" not in infra.env:
        pytest.skip("the broker in use is not the local SASL_SSL broker of infra.sh")
    return security


def _as_service(infra, admin_security: KafkaSecurity, service: str) -> KafkaSecurity:
    """The security of ``service``'s own principal (its password file from infra.sh)."""
    user = service_user(service)
    password = (Path(infra.env["FITTINGROOM_KAFKA_USERS_DIR"]) / user).read_text().strip()
    return admin_security.as_user(user, password)


def _keys_on(bootstrap: str, topic: str, security: KafkaSecurity, wanted: set[str], settle_s: float = 3.0) -> list:
    """The records of ``topic`` whose key is in ``wanted``, read whole by the admin."""
    reader = TopicReader(bootstrap, topic, client_id="test-security-read", security=security)
    try:
        ends = reader.end_offsets()
        found = []
        deadline = time.monotonic() + settle_s + 30
        while not reader.reached(ends) and time.monotonic() < deadline:
            found += [r for r in reader.poll(timeout_ms=500) if r.key and r.key.decode() in wanted]
        return found
    finally:
        reader.close()


@pytest.mark.parametrize("security", [KafkaSecurity("PLAINTEXT"), KafkaSecurity("SSL")],
                         ids=["plaintext", "tls-without-sasl"])
def test_a_client_without_credentials_is_refused(kafka_bootstrap, admin_security, make_topic, security):
    topic = make_topic(1)
    if security.protocol == "SSL":
        security = KafkaSecurity("SSL", ca=admin_security.ca)
    with pytest.raises(BusUnavailableError):
        producer = make_producer(kafka_bootstrap, client_id="test-anonymous", security=security, **QUICK)
        publish(producer, topic, "anonymous", b"x")
    assert _keys_on(kafka_bootstrap, topic, admin_security, {"anonymous"}) == []


def test_a_wrong_password_is_refused_by_the_broker(kafka_bootstrap, infra, admin_security):
    """The same user connects with its password and is refused with another (SCRAM fails at the broker)."""
    gateway = _as_service(infra, admin_security, "gateway")
    make_producer(kafka_bootstrap, client_id="test-right-password", security=gateway, **QUICK).close()
    wrong = admin_security.as_user(gateway.username, "not-the-password")
    with pytest.raises(BusUnavailableError):
        make_producer(kafka_bootstrap, client_id="test-wrong-password", security=wrong, **QUICK)


def test_a_producer_without_acls_is_refused_by_the_broker(kafka_bootstrap, infra, admin_security):
    """Compositing may write its own outputs (here the dead-letter topic), not the segmentation input.

    The probe goes to tryon.dlq, where any payload is at home, rather than tryon.completed,
    whose readers (the status projector, other tests counting completions) expect events.
    """
    compositing = _as_service(infra, admin_security, "compositing")
    producer = make_producer(kafka_bootstrap, client_id="test-no-acl", security=compositing)
    key = f"forged-{uuid.uuid4().hex[:8]}"
    try:
        with pytest.raises(BusError, match="TopicAuthorizationFailed"):
            publish(producer, stage("segmentation").input_topic, key, b"forged")
        publish(producer, DLQ, key, b"its own output")
    finally:
        producer.close()
    assert _keys_on(kafka_bootstrap, REQUESTS, admin_security, {key}) == []
    assert [r.value for r in _keys_on(kafka_bootstrap, DLQ, admin_security, {key})] == [b"its own output"]


def test_a_service_cannot_read_a_topic_it_only_writes(kafka_bootstrap, infra, admin_security):
    """Reads are held to the ACL table too: compositing writes tryon.completed but may not fetch from it."""
    compositing = _as_service(infra, admin_security, "compositing")
    reader = TopicReader(kafka_bootstrap, COMPLETED, client_id="test-no-read", security=compositing)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            reader.poll(timeout_ms=5000)
    finally:
        reader.close()


def test_mutual_tls_clients_are_their_certificates_principal_and_held_to_its_acls(kafka_bootstrap, infra,
                                                                                  admin_security):
    """On the mutual-TLS listener a client certificate is the identity (CN → principal); none is refused."""
    bootstrap = infra.env["FITTINGROOM_KAFKA_MTLS_BOOTSTRAP"]
    tls_dir = Path(admin_security.ca).parent
    user = service_user("compositing")
    mtls = KafkaSecurity("SSL", ca=admin_security.ca, cert=str(tls_dir / f"{user}.crt"),
                         key=str(tls_dir / f"{user}.key"))
    key = f"mtls-{uuid.uuid4().hex[:8]}"
    producer = make_producer(bootstrap, client_id="test-mtls", security=mtls)
    try:
        publish(producer, DLQ, key, b"over mutual TLS")
        with pytest.raises(BusError, match="TopicAuthorizationFailed"):
            publish(producer, REQUESTS, key, b"forged")
    finally:
        producer.close()
    assert [r.value for r in _keys_on(kafka_bootstrap, DLQ, admin_security, {key})] == [b"over mutual TLS"]
    assert not (tls_dir / "ca.key").exists()  # no one can mint another identity
    with pytest.raises(BusUnavailableError):
        make_producer(bootstrap, client_id="test-no-cert", security=KafkaSecurity("SSL", ca=admin_security.ca),
                      **QUICK)


@pytest.fixture(scope="module")
def shop(kafka_bootstrap, admin_security, kafka_partitions):
    """A shop that publishes straight to Kafka: tenant, its SCRAM user's security, its ingress topic."""
    from fittingroom.provision import connect_admin

    tenant = f"shop-{uuid.uuid4().hex[:6]}"
    username, password = f"shop-{tenant}", uuid.uuid4().hex
    admin = connect_admin(kafka_bootstrap, security=admin_security)
    try:
        topic = ensure_shop(admin, tenant, username, password, partitions=kafka_partitions)
    finally:
        admin.close()
    return tenant, admin_security.as_user(username, password), topic


def _shop_event(store, tenant: str, public_id: str, claimed_tenant: str, owner: str | None = None) -> bytes:
    """What a shop publishes: photos uploaded under ``owner``'s prefix (default its own), then the event."""
    stored = tenant_request_id(owner or tenant, public_id)
    photos = {name: (SAMPLES_DIR / f"{name}.jpg").read_bytes() for name in ("person", "style")}
    event = events_pb2.TryOnEvent(request_id=public_id, tenant=claimed_tenant)
    event.person_image.CopyFrom(put_object(store, request_key(stored, "input", "person_image"), photos["person"],
                                           "image/jpeg"))
    event.style_image.CopyFrom(put_object(store, request_key(stored, "input", "style_image"), photos["style"],
                                          "image/jpeg"))
    return event.SerializeToString()


def test_a_shop_may_write_only_its_own_ingress_topic(kafka_bootstrap, shop, admin_security):
    tenant, security, topic = shop
    producer = make_producer(kafka_bootstrap, client_id="test-shop", security=security)
    try:
        for forbidden in (REQUESTS, ingress_topic("someone-else"), COMPLETED):
            with pytest.raises(BusError, match="TopicAuthorizationFailed"):
                publish(producer, forbidden, "x", b"forged")
    finally:
        producer.close()


def test_a_shops_events_get_its_tenant_from_its_principal(kafka_bootstrap, shop, stack, minio_config, admin_security):
    """The contract: upload the photos to the tenant's prefix, publish a TryOnEvent to the ingress topic.

    The event claims another tenant; the gateway stamps the tenant of the topic the
    shop's principal may write, and the shop follows its request with its API key.
    An event whose photos lie under another tenant's prefix is dead-lettered.
    """
    tenant, security, topic = shop
    store = minio_config.store(minio_config.requests_bucket)
    good, foreign = f"ok-{uuid.uuid4().hex[:8]}", f"foreign-{uuid.uuid4().hex[:8]}"
    producer = make_producer(kafka_bootstrap, client_id="test-shop-publish", security=security)
    try:
        publish(producer, topic, good, _shop_event(store, tenant, good, claimed_tenant="local"))
        publish(producer, topic, foreign, _shop_event(store, tenant, foreign, claimed_tenant=tenant, owner="local"))
    finally:
        producer.close()

    key = add_key(stack.api_keys_file, tenant)
    with grpc.insecure_channel(stack.gateway) as channel:
        client = tryon_pb2_grpc.TryOnServiceStub(grpc.intercept_channel(channel, ApiKeyInterceptor(key)))
        status = wait_final(client, good)
    assert status.stage == events_pb2.COMPLETED, status.error.message
    accepted = [events_pb2.TryOnEvent.FromString(r.value)
                for r in _keys_on(kafka_bootstrap, REQUESTS, admin_security, {tenant_request_id(tenant, good)})]
    assert [(e.request_id, e.tenant) for e in accepted] == [(tenant_request_id(tenant, good), tenant)]
    dead = _keys_on(kafka_bootstrap, DLQ, admin_security, {foreign})
    assert len(dead) == 1 and b"no object" in dict(dead[0].headers)["reason"]


