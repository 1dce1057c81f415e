"""How the segmentation service runs: port, servicer, model loading, worker topics."""

from __future__ import annotations

from fittingroom.segmentation.adapter import SERVICE, SegmentationStage
from fittingroom.segmentation.body import PoseEstimator
from fittingroom.segmentation.model import load_model
from fittingroom.segmentation.servicer import SegmentationServicer
from fittingroom.chain import stage
from fittingroom.serving.runner import LoadedService, ServiceDefinition
from fittingroom.serving.rollout import ModelVersions
from fittingroom.serving.stage_base import model_version
from fittingroom.serving.stores import model_registry, request_store, timed_load
from fittingroom.registry import parse_model_ref
from fittingroom.settings import Settings
from fittingroom.training import select_device
from fittingroom.v1 import stages_pb2_grpc


def _load(settings: Settings) -> LoadedService:
    device = select_device(settings.device)
    with timed_load(SERVICE, parse_model_ref(settings.segmentation_model)[0]):
        model, manifest = load_model(model_registry(settings), settings.segmentation_model, device)
    with timed_load(SERVICE, "body-prior"):
        pose = PoseEstimator(threads=max(1, settings.torch_threads)) if settings.body_prior else None
    stage = SegmentationStage(model, request_store(settings), settings, pose, device=device,
                              models=[model_version(manifest)])
    return LoadedService(handle_batch=stage.handle_batch)


def _versions(settings: Settings) -> ModelVersions:
    name, version = parse_model_ref(settings.segmentation_model)
    return {f"segmentation/{name}": model_registry(settings).resolve_version("segmentation", name, version)}


DEFINITION = ServiceDefinition(
    spec=stage(SERVICE),
    register=lambda server, handle, _settings: server.add(
        stages_pb2_grpc.add_SegmentationServiceServicer_to_server, SegmentationServicer(handle),
        "fittingroom.v1.SegmentationService",
    ),
    load=_load,
    model_versions=_versions,
)
