"""How the translation service runs: port, servicer, generator loading, worker topics.

Every registered style class's generator is loaded at start-up (they are small)
so the first request of each class pays no load time.
"""

from __future__ import annotations

from fittingroom.chain import stage
from fittingroom.serving.runner import LoadedService, ServiceDefinition
from fittingroom.serving.stores import model_registry, request_store, timed_load
from fittingroom.settings import Settings
from fittingroom.training import select_device
from fittingroom.translation.adapter import SERVICE, TranslationStage
from fittingroom.translation.servicer import TranslationServicer
from fittingroom.registry import available_style_classes
from fittingroom.translation.networks import generator_ref, load_model
from fittingroom.v1 import stages_pb2_grpc


def _load(settings: Settings) -> LoadedService:
    registry = model_registry(settings)
    device = select_device(settings.device)
    generators = {}
    for key in available_style_classes(registry):
        with timed_load(SERVICE, key):
            generators[key] = load_model(registry, generator_ref(settings.translation_model, key), device)[0]
    stage = TranslationStage(generators.__getitem__, sorted(generators), request_store(settings), device=device,
                             inline_max_bytes=settings.inline_max_bytes, precision=settings.translation_precision)
    return LoadedService(handle_batch=stage.handle_batch)


DEFINITION = ServiceDefinition(
    spec=stage(SERVICE),
    register=lambda server, handle, _settings: server.add(
        stages_pb2_grpc.add_TranslationServiceServicer_to_server, TranslationServicer(handle),
        "fittingroom.v1.TranslationService",
    ),
    load=_load,
)
