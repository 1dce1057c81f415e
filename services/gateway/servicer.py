"""The composite API shops call: ``TryOn`` over gRPC stages, or ``Submit``/``Get``/``Watch`` over Kafka."""

from __future__ import annotations

import time
import uuid
from typing import Iterator

import grpc
from kafka.errors import KafkaError
from google.protobuf.timestamp_pb2 import Timestamp

from fittingroom.errors import BadRequestError, BusError, RequestNotFoundError
from fittingroom.gateway.stages import StageClients
from fittingroom.gateway.tracker import FINAL, StatusTracker, status_of
from fittingroom.images import decode_image
from fittingroom.bus import AtomicPublisher
from fittingroom.chain import REQUESTS, STATUS
from fittingroom.serving.blobs import storage_errors
from fittingroom.errors import TransientError
from fittingroom.serving.logs import request_context
from fittingroom.settings import Settings
from fittingroom.storage import ObjectStore
from fittingroom.tensors import get_object, put_object, request_key
from fittingroom.v1 import common_pb2, events_pb2, tryon_pb2, tryon_pb2_grpc

WATCH_POLL_SECONDS = 1.0


def new_request_id(requested: str) -> str:
    """The caller's id (idempotency key) if valid, else a fresh one."""
    if not requested:
        return uuid.uuid4().hex
    if len(requested) > 128 or not all(c.isalnum() or c in "-_." for c in requested):
        raise BadRequestError("request_id must be ≤128 characters of letters, digits, '-', '_' or '.'")
    return requested


class TryOnServicer(tryon_pb2_grpc.TryOnServiceServicer):
    """Validates at the edge, stores photos, then runs the chain one way or the other."""

    def __init__(self, settings: Settings, store: ObjectStore, stages: StageClients, tracker: StatusTracker) -> None:
        self.settings = settings
        self.store = store
        self.stages = stages
        self.tracker = tracker
        self.publisher: AtomicPublisher | None = None

    def connect_events(self, publisher: AtomicPublisher) -> None:
        """Enable the event path (Submit) once the replica's status view has caught up."""
        self.publisher = publisher

    def _photo(self, request_id: str, data: bytes, ref: common_pb2.ObjectRef, name: str) -> common_pb2.ObjectRef:
        """Validate one photo (inline bytes or a stored reference) and store it."""
        limits = self.settings.image_limits()
        if not data and ref.key:
            with storage_errors(name):
                data = get_object(self.store, ref)
        decode_image(data, name=name, **limits)
        with storage_errors(name):
            return put_object(self.store, request_key(request_id, "input", name.replace(" ", "_")), data,
                              "application/octet-stream")

    def _event(self, request: tryon_pb2.TryOnRequest, request_id: str) -> events_pb2.TryOnEvent:
        created = Timestamp()
        created.GetCurrentTime()
        return events_pb2.TryOnEvent(
            request_id=request_id, created=created, attempt=1, stage=events_pb2.SUBMITTED,
            options=request.options,
            person_image=self._photo(request_id, request.person_image, request.person_ref, "person image"),
            style_image=self._photo(request_id, request.style_image, request.style_ref, "style image"),
        )

    def TryOn(self, request: tryon_pb2.TryOnRequest, context: grpc.ServicerContext) -> tryon_pb2.TryOnResponse:
        started = time.perf_counter()
        event = self._event(request, new_request_id(request.request_id))
        with request_context(event.request_id):
            done = self.stages.run_chain(event, context.time_remaining())
        response = tryon_pb2.TryOnResponse(
            request_id=done.request_id, result=done.result, style=done.style, timings=done.timings,
            exact_colour=done.exact_colour, exact_pattern=done.exact_pattern,
        )
        response.timings.add(stage="gateway", milliseconds=(time.perf_counter() - started) * 1000.0)
        if request.return_image:
            with storage_errors("result"):
                response.image = get_object(self.store, done.result)
        return response

    def Submit(self, request: tryon_pb2.TryOnRequest, context: grpc.ServicerContext) -> tryon_pb2.SubmitResponse:
        """Store the photos, then publish the request and its first status together.

        Idempotent: a request id already known (a client retrying a lost reply)
        returns that request, with nothing stored or rerun. A bus failure answers
        UNAVAILABLE with nothing published, so the retry is safe.
        """
        if self.publisher is None:
            raise TransientError("the event path is not connected (Kafka worker disabled or starting)")
        request_id = new_request_id(request.request_id)
        if self.tracker.stage(request_id) is not None:
            return tryon_pb2.SubmitResponse(request_id=request_id)
        event = self._event(request, request_id)
        status = status_of(event)
        try:
            self.publisher.publish([(REQUESTS, request_id, event.SerializeToString()),
                                    (STATUS, request_id, status.SerializeToString())])
        except (BusError, KafkaError) as exc:
            raise TransientError(f"the event bus is unreachable; retry with request_id {request_id}: {exc}") from exc
        self.tracker.record(status)
        return tryon_pb2.SubmitResponse(request_id=request_id)

    def _known_status(self, request_id: str) -> tryon_pb2.TryOnStatus:
        """The request's latest status, or NOT_FOUND."""
        status = self.tracker.get(request_id)
        if status is None:
            raise RequestNotFoundError(f"unknown request {request_id!r} (not submitted, or not seen yet)")
        return status

    def Get(self, request: tryon_pb2.GetRequest, context: grpc.ServicerContext) -> tryon_pb2.TryOnStatus:
        return self._known_status(request.request_id)

    def Watch(self, request: tryon_pb2.GetRequest, context: grpc.ServicerContext) -> Iterator[tryon_pb2.TryOnStatus]:
        """Stream the request's statuses until a final one; an unknown id ends at once with NOT_FOUND."""
        self._known_status(request.request_id)
        seen = 0
        while context.is_active():
            for status in self.tracker.wait_for_change(request.request_id, seen, WATCH_POLL_SECONDS):
                seen += 1
                yield status
                if status.stage in FINAL:
                    return
