"""How the style service runs: port, servicer, model loading, worker topics."""

from __future__ import annotations

from fittingroom.chain import stage
from fittingroom.serving.rollout import ModelVersions
from fittingroom.serving.runner import LoadedService, ServiceDefinition
from fittingroom.serving.stage_base import model_version
from fittingroom.serving.stores import model_registry, request_store, timed_load
from fittingroom.settings import Settings
from fittingroom.style.model import load_model
from fittingroom.style.adapter import SERVICE, StyleStage
from fittingroom.style.servicer import StyleServicer
from fittingroom.style.stage import style_classes
from fittingroom.training import select_device
from fittingroom.registry import available_style_classes, parse_model_ref
from fittingroom.v1 import stages_pb2_grpc


def _load(settings: Settings) -> LoadedService:
    registry = model_registry(settings)
    device = select_device(settings.device)
    with timed_load(SERVICE, parse_model_ref(settings.style_model)[0]):
        model, manifest = load_model(registry, settings.style_model, device)
    colours, patterns = style_classes(manifest)
    stage = StyleStage(model, colours, patterns, available_style_classes(registry), request_store(settings), settings,
                       device=device, models=[model_version(manifest)])
    return LoadedService(handle_batch=stage.handle_batch)


def _versions(settings: Settings) -> ModelVersions:
    """The style model's version, and which style classes have generators (the labels it may pick)."""
    registry = model_registry(settings)
    name, version = parse_model_ref(settings.style_model)
    classes = {f"translation/{key}": "" for key in available_style_classes(registry)}
    return {f"style/{name}": registry.resolve_version("style", name, version), **classes}


DEFINITION = ServiceDefinition(
    spec=stage(SERVICE),
    register=lambda server, handle, _settings: server.add(
        stages_pb2_grpc.add_StyleServiceServicer_to_server, StyleServicer(handle), "fittingroom.v1.StyleService",
    ),
    load=_load,
    model_versions=_versions,
)
