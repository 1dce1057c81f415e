"""gRPC door of the segmentation stage."""

from __future__ import annotations

from fittingroom.serving.stage_base import BatchHandler
from fittingroom.serving.unary import run_one
from fittingroom.v1 import events_pb2, stages_pb2, stages_pb2_grpc


class SegmentationServicer(stages_pb2_grpc.SegmentationServiceServicer):
    def __init__(self, stage: BatchHandler) -> None:
        self.stage = stage

    def Segment(self, request: stages_pb2.SegmentRequest, context) -> stages_pb2.SegmentResponse:
        event = events_pb2.TryOnEvent(
            request_id=request.request_id, person_image=request.person_image,
            style_image=request.style_image, options=request.options,
        )
        out = run_one(self.stage, event, context)
        return stages_pb2.SegmentResponse(
            person_garment=out.person_garment, style_garment=out.style_garment,
            translation_input=out.translation_input, milliseconds=out.timings[-1].milliseconds, models=out.models,
        )
