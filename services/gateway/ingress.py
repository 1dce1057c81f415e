"""Shops that publish straight to Kafka: their events, stamped with the tenant their principal writes for.

Kafka does not tell a consumer who produced a record, but it does tell which topic
it came from, and the broker lets only one shop's principal write each ingress
topic (``tryon.ingress.<tenant>``, see :mod:`fittingroom.kafka_auth`). So the
relay takes the tenant from the topic, never from the payload: it rewrites the
event as that tenant's (``<tenant>/<id>``, ``tenant`` set), checks that both
photos are references into the tenant's own prefix, and publishes it to
``tryon.requests`` in the same transaction that commits the ingress offsets.
Anything else (unparsable bytes, a bad id, a reference outside the prefix) goes to
``tryon.dlq`` with the reason, and the stream goes on.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence

from kafka.errors import KafkaError

from fittingroom.chain import DLQ, REQUESTS
from fittingroom.errors import BadRequestError, BusError, RequestNotFoundError
from fittingroom.gateway.servicer import check_owned_ref, new_request_id
from fittingroom.kafka_auth import INGRESS_PREFIX, tenant_of_ingress
from fittingroom.serving.metrics import DEPENDENCY_UP, KAFKA_MESSAGES
from fittingroom.serving.worker import TransactionalOutput, parse_event, rewind_batch
from fittingroom.tensors import public_request_id, tenant_request_id
from fittingroom.v1 import events_pb2

log = logging.getLogger(__name__)
SERVICE = "gateway"
# Every tenant's ingress topic, including those created after the gateway started.
INGRESS_PATTERN = "^" + INGRESS_PREFIX.replace(".", r"\.") + ".+"


def accepted_event(topic: str, raw: bytes | None) -> events_pb2.TryOnEvent:
    """The event a shop published on ``topic``, as its tenant's submitted request; ValueError why not."""
    tenant = tenant_of_ingress(topic)
    if tenant is None:
        raise ValueError(f"{topic} is not a tenant's ingress topic")
    event = parse_event(raw)
    requested = event.request_id
    if requested.startswith(f"{tenant}/"):
        requested = public_request_id(requested)
    try:
        request_id = tenant_request_id(tenant, new_request_id(requested))
        for name, ref in (("person image", event.person_image), ("style image", event.style_image)):
            check_owned_ref(tenant, ref, name)
    except (BadRequestError, RequestNotFoundError) as exc:
        raise ValueError(str(exc)) from None
    event.request_id, event.tenant = request_id, tenant
    event.stage, event.attempt = events_pb2.SUBMITTED, 1
    if not event.HasField("created"):
        event.created.GetCurrentTime()
    return event


class IngressRelay(TransactionalOutput):
    """Shops' ingress topics → ``tryon.requests`` (or ``tryon.dlq``), each record once."""

    def __init__(self, consumer, producer, publish: Callable, transactional: bool, max_pause_s: float = 5.0,
                 renew_producer: Callable[[], object] | None = None) -> None:
        self.consumer = consumer
        self.producer = producer
        self.publish = publish
        self.transactional = transactional
        self.max_pause_s = max_pause_s
        self.renew_producer = renew_producer
        self.stopping = threading.Event()

    def run(self) -> None:
        """Relay until stopped; a broker outage pauses it (offsets kept)."""
        pauses = 0
        while not self.stopping.is_set():
            records: Sequence = []
            try:
                records = self.consumer.poll_batch()
                if records:
                    self._publish_and_commit(records, lambda: self._relay(records))
                pauses = 0
            except (BusError, KafkaError) as exc:
                pauses += 1
                DEPENDENCY_UP.labels(SERVICE, "kafka").set(0)
                log.warning("ingress relay paused: broker unreachable", extra={"error": str(exc)})
                rewind_batch(self.consumer, records)
                self._renew_producer()
                self.stopping.wait(min(self.max_pause_s, 0.2 * 2 ** min(pauses, 5)))
        self.consumer.close()

    def stop(self) -> None:
        self.stopping.set()

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
