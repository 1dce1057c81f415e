"""Run a stage's batch handler for one gRPC request (the servicers' common step)."""

from __future__ import annotations

import grpc

from fittingroom.errors import BadRequestError
from fittingroom.serving.logs import request_context
from fittingroom.serving.stage_base import BatchHandler
from fittingroom.v1 import events_pb2


def run_one(handler: BatchHandler, event: events_pb2.TryOnEvent, context: grpc.ServicerContext) -> events_pb2.TryOnEvent:
    """The enriched event, or the typed error raised for the interceptor to map."""
    if not event.request_id:
        raise BadRequestError("request_id is required")
    with request_context(event.request_id):
        result = handler.handle_batch([event])[0]
    if isinstance(result, Exception):
        raise result
    return result
