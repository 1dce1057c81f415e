"""How the translation service runs: port, servicer, generator loading, worker topics.

Every registered style class's generator is loaded at start-up (they are small)
so the first request of each class pays no load time.
"""

from __future__ import annotations

from fittingroom.chain import stage
from fittingroom.serving.rollout import ModelVersions
from fittingroom.serving.runner import LoadedService, ServiceDefinition
from fittingroom.serving.stage_base import model_version
from fittingroom.serving.stores import model_registry, request_store, timed_load
from fittingroom.settings import Settings
from fittingroom.training import select_device
from fittingroom.translation.adapter import SERVICE, TranslationStage
from fittingroom.translation.servicer import TranslationServicer
from fittingroom.registry import available_style_classes, parse_model_ref
from fittingroom.translation.networks import generator_ref, load_model
from fittingroom.v1 import stages_pb2_grpc


def _load(settings: Settings) -> LoadedService:
    registry = model_registry(settings)
    device = select_device(settings.device)
    generators, versions = {}, {}
    for key in available_style_classes(registry):
        with timed_load(SERVICE, key):
            generators[key], manifest = load_model(registry, generator_ref(settings.translation_model, key), device)
        versions[key] = [model_version(manifest)]
    stage = TranslationStage(generators.__getitem__, sorted(generators), request_store(settings), device=device,
                             inline_max_bytes=settings.inline_max_bytes, precision=settings.translation_precision,
                             models_for=versions.__getitem__)
    return LoadedService(handle_batch=stage.handle_batch)


def _versions(settings: Settings) -> ModelVersions:
    """The generator version of every style class, from one registry listing."""
    registry = model_registry(settings)
    listing = registry.all_versions("translation")
    return {f"translation/{key}": registry.resolve_version(
                "translation", *parse_model_ref(generator_ref(settings.translation_model, key)), listing=listing)
            for key in listing}


DEFINITION = ServiceDefinition(
    spec=stage(SERVICE),
    register=lambda server, handle, _settings: server.add(
        stages_pb2_grpc.add_TranslationServiceServicer_to_server, TranslationServicer(handle),
        "fittingroom.v1.TranslationService",
    ),
    load=_load,
    model_versions=_versions,
)
