"""How the gateway runs: TryOnService, the stage clients, the status projector and view, and the ingress relay."""

from __future__ import annotations

import os
import socket

from fittingroom.bus import AtomicPublisher, TopicReader
from fittingroom.quotas import TenantQuotas
from fittingroom.chain import GATEWAY, PROGRESS_TOPICS, STATUS
from fittingroom.gateway.auth import authenticator
from fittingroom.gateway.ingress import INGRESS_PATTERN, IngressRelay
from fittingroom.gateway.servicer import TryOnServicer
from fittingroom.gateway.stages import StageClients
from fittingroom.gateway.status_feed import StatusProjector, StatusView
from fittingroom.gateway.tracker import StatusTracker
from fittingroom.serving.runner import LoadedService, ServiceDefinition
from fittingroom.serving.stores import request_store
from fittingroom.settings import Settings
from fittingroom.v1 import tryon_pb2_grpc


class Gateway:
    """Holds the servicer between registration (before start) and loading."""

    def __init__(self) -> None:
        self.servicer: TryOnServicer | None = None

    def register(self, server, _handle, settings: Settings) -> None:
        auth = authenticator(settings)  # first: a gateway without keys refuses to start
        quotas = TenantQuotas(settings.tenant_rate_per_s, settings.tenant_burst, settings.tenant_max_in_flight,
                              settings.tenant_max_streams)
        self.servicer = TryOnServicer(settings, request_store(settings), StageClients(settings), StatusTracker(),
                                      auth, quotas)
        server.add(tryon_pb2_grpc.add_TryOnServiceServicer_to_server, self.servicer, "fittingroom.v1.TryOnService")

    def load(self, settings: Settings) -> LoadedService:
        if not settings.enable_worker or self.servicer is None:
            return LoadedService()
        tracker = self.servicer.tracker
        view = StatusView(tracker, TopicReader(settings.kafka_bootstrap, STATUS, client_id="fittingroom-gateway-view",
                                                 security=settings.kafka_security()))
        view.catch_up(settings.status_catch_up_s)
        # Only now: Submit's idempotency check needs the ids the view knows.
        self.servicer.connect_events(_submit_publisher(settings))
        return LoadedService(background=[_projector(settings, tracker), view, _ingress_relay(settings)])


def _transactional_id(settings: Settings, role: str) -> str | None:
    """Unique per process: a restarted one is a new producer (the old one's transactions are fenced)."""
    if not settings.kafka_transactions:
        return None
    return f"{settings.kafka_group_prefix}-gateway-{role}-{socket.gethostname()}-{os.getpid()}"


def _submit_publisher(settings: Settings) -> AtomicPublisher:
    from fittingroom.bus import make_producer

    transactional_id = _transactional_id(settings, "submit")
    security = settings.kafka_security()
    return AtomicPublisher(lambda: make_producer(settings.kafka_bootstrap, client_id="fittingroom-gateway",
                                                 transactional_id=transactional_id, security=security),
                           transactional=settings.kafka_transactions).connect()


def _projector(settings: Settings, tracker: StatusTracker) -> StatusProjector:
    """The replica's member of the gateway's shared status group (range-assigned, see ``status_feed``)."""
    from kafka.coordinator.assignors.range import RangePartitionAssignor

    from fittingroom.bus import BatchConsumer, make_producer, publish

    security = settings.kafka_security()
    consumer = BatchConsumer(settings.kafka_bootstrap, f"{settings.kafka_group_prefix}-gateway-status",
                             list(PROGRESS_TOPICS), max_batch=256, max_wait_ms=settings.worker_max_wait_ms,
                             linger_ms=settings.worker_linger_ms,
                             security=security, stall_check_s=settings.kafka_stall_check_s,
                             partition_assignment_strategy=(RangePartitionAssignor,))
    transactional_id = _transactional_id(settings, "status")

    def new_producer():
        return make_producer(settings.kafka_bootstrap, client_id="fittingroom-gateway-status",
                             transactional_id=transactional_id, security=security)

    return StatusProjector(tracker, consumer, new_producer(), publish, settings.kafka_transactions,
                           renew_producer=new_producer)


def _ingress_relay(settings: Settings) -> IngressRelay:
    """The replica's member of the group that relays shops' ingress topics to ``tryon.requests``."""
    from fittingroom.bus import BatchConsumer, make_producer, publish

    security = settings.kafka_security()
    consumer = BatchConsumer(settings.kafka_bootstrap, f"{settings.kafka_group_prefix}-gateway-ingress", [],
                             max_batch=64, max_wait_ms=settings.worker_max_wait_ms, linger_ms=settings.worker_linger_ms,
                             security=security, pattern=INGRESS_PATTERN, stall_check_s=settings.kafka_stall_check_s)
    transactional_id = _transactional_id(settings, "ingress")

    def new_producer():
        return make_producer(settings.kafka_bootstrap, client_id="fittingroom-gateway-ingress",
                             transactional_id=transactional_id, security=security)

    return IngressRelay(consumer, new_producer(), publish, settings.kafka_transactions, renew_producer=new_producer)


_GATEWAY = Gateway()

DEFINITION = ServiceDefinition(
    spec=GATEWAY,
    register=_GATEWAY.register,
    load=_GATEWAY.load,
)
