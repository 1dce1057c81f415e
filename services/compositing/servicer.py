"""gRPC door of the compositing stage."""

from __future__ import annotations

from fittingroom.serving.stage_base import BatchHandler
from fittingroom.serving.unary import run_one
from fittingroom.v1 import events_pb2, stages_pb2, stages_pb2_grpc


class CompositingServicer(stages_pb2_grpc.CompositingServiceServicer):
    def __init__(self, stage: BatchHandler) -> None:
        self.stage = stage

    def Composite(self, request: stages_pb2.CompositeRequest, context) -> stages_pb2.CompositeResponse:
        event = events_pb2.TryOnEvent(
            request_id=request.request_id, person_image=request.person_image,
            person_garment=request.person_garment, translated=request.translated, options=request.options,
            style=request.style, models=request.models,
        )
        out = run_one(self.stage, event, context)
        return stages_pb2.CompositeResponse(
            result=out.result, milliseconds=out.timings[-1].milliseconds, exact_colour=out.exact_colour,
            exact_pattern=out.exact_pattern, result_manifest=out.result_manifest,
        )
