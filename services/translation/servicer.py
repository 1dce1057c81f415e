"""gRPC door of the translation stage."""

from __future__ import annotations

from fittingroom.serving.stage_base import BatchHandler
from fittingroom.serving.unary import run_one
from fittingroom.v1 import common_pb2, events_pb2, stages_pb2, stages_pb2_grpc


class TranslationServicer(stages_pb2_grpc.TranslationServiceServicer):
    def __init__(self, stage: BatchHandler) -> None:
        self.stage = stage

    def Translate(self, request: stages_pb2.TranslateRequest, context) -> stages_pb2.TranslateResponse:
        event = events_pb2.TryOnEvent(
            request_id=request.request_id, translation_input=request.translation_input,
            style=common_pb2.StyleLabel(translation_key=request.translation_key),
        )
        out = run_one(self.stage, event, context)
        return stages_pb2.TranslateResponse(translated=out.translated, milliseconds=out.timings[-1].milliseconds,
                                            models=out.models)
