"""How the compositing service runs: port, servicer, worker topics (no model)."""

from __future__ import annotations

from fittingroom.compositing.adapter import SERVICE, CompositingStage
from fittingroom.compositing.servicer import CompositingServicer
from fittingroom.chain import stage
from fittingroom.serving.runner import LoadedService, ServiceDefinition
from fittingroom.serving.stores import request_store
from fittingroom.settings import Settings
from fittingroom.v1 import stages_pb2_grpc


def _load(settings: Settings) -> LoadedService:
    return LoadedService(handle_batch=CompositingStage(request_store(settings), settings).handle_batch)


DEFINITION = ServiceDefinition(
    spec=stage(SERVICE),
    register=lambda server, handle, _settings: server.add(
        stages_pb2_grpc.add_CompositingServiceServicer_to_server, CompositingServicer(handle),
        "fittingroom.v1.CompositingService",
    ),
    load=_load,
)
