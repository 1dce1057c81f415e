"""Shops that publish straight to Kafka: their events, stamped with the tenant their principal writes for.

Kafka does not tell a consumer who produced a record, but it does tell which topic
it came from, and the broker lets only one shop's principal write each ingress
topic (``tryon.ingress.<tenant>``, see :mod:`fittingroom.kafka_auth`). So the
relay takes the tenant from the topic, never from the payload: it rewrites the
event as that tenant's (``<tenant>/<id>``, ``tenant`` set), checks that both
photos are references into the tenant's own prefix, and publishes it to
``tryon.requests`` in the same transaction that commits the ingress offsets.
Anything else (unparsable bytes, a bad id, a reference outside the prefix, a stage's
output such as a garment mask or an inline tensor) goes to ``tryon.dlq`` with the
reason, and the stream goes on.
"""

from __future__ import annotations

import logging
from typing import Sequence

from fittingroom.chain import DLQ, REQUESTS
from fittingroom.errors import BadRequestError, RequestNotFoundError
from fittingroom.gateway.servicer import check_owned_ref, new_request_id
from fittingroom.kafka_auth import INGRESS_PREFIX, tenant_of_ingress
from fittingroom.serving.metrics import KAFKA_MESSAGES
from fittingroom.serving.worker import TransactionalRelay, parse_event
from fittingroom.tensors import public_request_id, tenant_request_id
from fittingroom.v1 import events_pb2

log = logging.getLogger(__name__)
SERVICE = "gateway"
# What a shop's event may hold: its request and photos (tenant, stage and attempt are
# overwritten). Stage outputs may not be forged: a TensorRef may carry its tensor
# inline, with no key under the tenant's prefix for the relay to check.
SHOP_FIELDS = frozenset({"request_id", "created", "options", "person_image", "style_image", "tenant", "stage", "attempt"})
# Every tenant's ingress topic, including those created after the gateway started.
INGRESS_PATTERN = "^" + INGRESS_PREFIX.replace(".", r"\.") + ".+"


def accepted_event(topic: str, raw: bytes | None) -> events_pb2.TryOnEvent:
    """The event a shop published on ``topic``, as its tenant's submitted request; ValueError why not."""
    tenant = tenant_of_ingress(topic)
    if tenant is None:
        raise ValueError(f"{topic} is not a tenant's ingress topic")
    event = parse_event(raw)
    forged = sorted(field.name for field, _ in event.ListFields() if field.name not in SHOP_FIELDS)
    if forged:
        raise ValueError(f"a shop's event may not carry stage outputs: {', '.join(forged)}")
    requested = event.request_id
    if requested.startswith(f"{tenant}/"):
        requested = public_request_id(requested)
    try:
        request_id = tenant_request_id(tenant, new_request_id(requested))
        for name, ref in (("person image", event.person_image), ("style image", event.style_image)):
            if ref.HasField("inline"):
                raise BadRequestError(f"{name}: a published event refers to a photo in your prefix; "
                                      "inline bytes ride only inside the gateway's own gRPC calls")
            check_owned_ref(tenant, ref, name)
    except (BadRequestError, RequestNotFoundError) as exc:
        raise ValueError(str(exc)) from None
    event.request_id, event.tenant = request_id, tenant
    event.stage, event.attempt = events_pb2.SUBMITTED, 1
    if not event.HasField("created"):
        event.created.GetCurrentTime()
    return event


class IngressRelay(TransactionalRelay):
    """Shops' ingress topics → ``tryon.requests`` (or ``tryon.dlq``), each record once."""

    service = SERVICE
    name = "ingress relay"

    def process(self, records: Sequence) -> None:
        """Relay one batch and commit it in the same transaction."""
        self._publish_and_commit(records, lambda: self._relay(records), self._waiting_for_kafka)

    def _relay(self, records: Sequence) -> None:
        for record in records:
            try:
                event = accepted_event(record.topic, record.value)
            except ValueError as exc:
                self._dead_letter(record, str(exc))
                continue
            self.publish(self.producer, REQUESTS, event.request_id, event.SerializeToString())
            KAFKA_MESSAGES.labels(SERVICE, record.topic, "relayed").inc()

    def _dead_letter(self, record, reason: str) -> None:
        headers = [("reason", reason.encode()), ("source-topic", record.topic.encode()),
                   ("source-partition", str(record.partition).encode()), ("source-offset", str(record.offset).encode())]
        key = record.key.decode(errors="replace") if record.key else ""
        self.publish(self.producer, DLQ, key, record.value or b"", headers)
        KAFKA_MESSAGES.labels(SERVICE, record.topic, "dlq").inc()
        log.warning("ingress record sent to DLQ", extra={"reason": reason, "topic": record.topic})
