"""Run a stage's batch handler for one gRPC request (the servicers' common step)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import grpc

from fittingroom.errors import BadRequestError
from fittingroom.serving.logs import request_context
from fittingroom.serving.stage_base import BatchHandler
from fittingroom.v1 import events_pb2


@dataclass(frozen=True)
class GrpcDoor:
    """A stage's handler as its gRPC servicer calls it: with the gateway chain's inline threshold."""

    handler: BatchHandler
    inline_max_bytes: int

    def handle_batch(self, events: Sequence[events_pb2.TryOnEvent], inline_max_bytes: int | None = None) -> list:
        limit = self.inline_max_bytes if inline_max_bytes is None else inline_max_bytes
        return self.handler.handle_batch(events, limit)


def run_one(handler: BatchHandler, event: events_pb2.TryOnEvent, context: grpc.ServicerContext) -> events_pb2.TryOnEvent:
    """The enriched event, or the typed error raised for the interceptor to map."""
    if not event.request_id:
        raise BadRequestError("request_id is required")
    with request_context(event.request_id):
        result = handler.handle_batch([event])[0]
    if isinstance(result, Exception):
        raise result
    return result
