"""How the gateway runs: TryOnService, the stage clients and the status feed."""

from __future__ import annotations

from fittingroom.chain import GATEWAY, PROGRESS_TOPICS
from fittingroom.gateway.servicer import TryOnServicer
from fittingroom.gateway.stages import StageClients
from fittingroom.gateway.tracker import StatusTracker, TrackerFeed
from fittingroom.serving.runner import LoadedService, ServiceDefinition
from fittingroom.serving.stores import request_store
from fittingroom.settings import Settings
from fittingroom.v1 import tryon_pb2_grpc


class Gateway:
    """Holds the servicer between registration (before start) and loading."""

    def __init__(self) -> None:
        self.servicer: TryOnServicer | None = None

    def register(self, server, _handle, settings: Settings) -> None:
        self.servicer = TryOnServicer(settings, request_store(settings), StageClients(settings), StatusTracker())
        server.add(tryon_pb2_grpc.add_TryOnServiceServicer_to_server, self.servicer, "fittingroom.v1.TryOnService")

    def load(self, settings: Settings) -> LoadedService:
        if not settings.enable_worker or self.servicer is None:
            return LoadedService()
        import socket
        import uuid

        from fittingroom.bus import BatchConsumer, make_producer, publish

        self.servicer.connect_events(make_producer(settings.kafka_bootstrap, client_id="fittingroom-gateway"), publish)
        group = f"{settings.kafka_group_prefix}-gateway-{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        consumer = BatchConsumer(settings.kafka_bootstrap, group, list(PROGRESS_TOPICS),
                                 max_batch=256, max_wait_ms=settings.worker_max_wait_ms)
        return LoadedService(background=[TrackerFeed(self.servicer.tracker, consumer)])


_GATEWAY = Gateway()

DEFINITION = ServiceDefinition(
    spec=GATEWAY,
    register=_GATEWAY.register,
    load=_GATEWAY.load,
)
