"""gRPC door of the style stage."""

from __future__ import annotations

from fittingroom.serving.stage_base import BatchHandler
from fittingroom.serving.unary import run_one
from fittingroom.v1 import events_pb2, stages_pb2, stages_pb2_grpc


class StyleServicer(stages_pb2_grpc.StyleServiceServicer):
    def __init__(self, stage: BatchHandler) -> None:
        self.stage = stage

    def Classify(self, request: stages_pb2.ClassifyRequest, context) -> stages_pb2.ClassifyResponse:
        event = events_pb2.TryOnEvent(
            request_id=request.request_id, style_image=request.style_image,
            style_garment=request.style_garment, options=request.options, models=request.models,
        )
        out = run_one(self.stage, event, context)
        return stages_pb2.ClassifyResponse(style=out.style, milliseconds=out.timings[-1].milliseconds,
                                           models=out.models[len(request.models):])
