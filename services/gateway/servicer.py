"""The composite API shops call: ``TryOn`` over gRPC stages, or ``Submit``/``Get``/``Watch`` over Kafka.

Every call is made by a tenant (``fittingroom.gateway.auth``) and sees only that
tenant's requests: a request is stored as ``<tenant>/<id>`` (objects under
``requests/<tenant>/<id>/``), the caller sees only ``<id>``, another tenant's id
is simply not found, and references may point only into the caller's prefix.
"""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from typing import Iterator

import grpc
from kafka.errors import KafkaError
from google.protobuf.timestamp_pb2 import Timestamp

from fittingroom.errors import BadRequestError, BusError, FittingroomError, RequestNotFoundError, TransientError
from fittingroom.gateway.auth import Authenticator
from fittingroom.gateway.stages import StageClients
from fittingroom.gateway.tracker import FINAL, StatusTracker, shop_style, status_of
from fittingroom.images import decode_image, open_image
from fittingroom.bus import AtomicPublisher
from fittingroom.chain import REQUESTS, STATUS
from fittingroom.quotas import TenantQuotas
from fittingroom.serving.blobs import storage_errors
from fittingroom.serving.logs import request_context
from fittingroom.serving.metrics import TENANT_FAILURES, TENANT_REQUESTS
from fittingroom.settings import Settings
from fittingroom.storage import ObjectStore
from fittingroom.tensors import (INPUT_FOLDER, get_object, public_request_id, put_object, request_key, tenant_prefix,
                                 tenant_request_id, travels_inline)
from fittingroom.v1 import common_pb2, events_pb2, tryon_pb2, tryon_pb2_grpc

WATCH_POLL_SECONDS = 1.0
UNAUTHENTICATED_LABEL = "unauthenticated"


def new_request_id(requested: str) -> str:
    """The caller's id (idempotency key) if valid, else a fresh one."""
    if not requested:
        return uuid.uuid4().hex
    if len(requested) > 128 or not all(c.isalnum() or c in "-_." for c in requested):
        raise BadRequestError("request_id must be ≤128 characters of letters, digits, '-', '_' or '.'")
    return requested


def check_owned_ref(tenant: str, ref: common_pb2.ObjectRef, name: str) -> None:
    """A reference must point into the caller's own prefix; anything else is not found, like a foreign id."""
    segments = ref.key.split("/")
    if not ref.key.startswith(tenant_prefix(tenant)) or any(s in ("", ".", "..") for s in segments):
        raise RequestNotFoundError(f"{name}: no object {ref.key!r} among your requests")


class TryOnServicer(tryon_pb2_grpc.TryOnServiceServicer):
    """Authenticates and limits each call, validates at the edge, stores photos, then runs the chain."""

    def __init__(self, settings: Settings, store: ObjectStore, stages: StageClients, tracker: StatusTracker,
                 auth: Authenticator, quotas: TenantQuotas) -> None:
        self.settings = settings
        self.store = store
        self.stages = stages
        self.tracker = tracker
        self.auth = auth
        self.quotas = quotas
        self.publisher: AtomicPublisher | None = None

    def connect_events(self, publisher: AtomicPublisher) -> None:
        """Enable the event path (Submit) once the replica's status view has caught up."""
        self.publisher = publisher

    @contextmanager
    def _tenant_call(self, context: grpc.ServicerContext, method: str) -> Iterator[str]:
        """Authenticate the call and count it against its tenant's rate; counts it and its failure per tenant."""
        tenant = UNAUTHENTICATED_LABEL
        try:
            tenant = self.auth.tenant(context.invocation_metadata())
            TENANT_REQUESTS.labels(tenant, method).inc()
            self.quotas.admit(tenant)
            yield tenant
        except Exception as exc:
            if tenant == UNAUTHENTICATED_LABEL:
                TENANT_REQUESTS.labels(tenant, method).inc()
            code = exc.code.value if isinstance(exc, FittingroomError) else "internal"
            TENANT_FAILURES.labels(tenant, method, code).inc()
            raise

    def _photo(self, tenant: str, request_id: str, data: bytes, ref: common_pb2.ObjectRef,
               name: str, inline_max_bytes: int) -> common_pb2.ObjectRef:
        """Validate one photo (inline bytes or a reference into the tenant's prefix); store it, or keep it inline
        up to ``inline_max_bytes``.

        A photo kept inline is on the synchronous gRPC chain, whose first stage decodes it at
        once and answers a corrupt one with the same ``INVALID_ARGUMENT``: here its header is
        checked (format, bytes, pixels, sides). A stored photo is for the event path, where
        a corrupt one would only fail later, so it is decoded in full before it is accepted.
        """
        limits = self.settings.image_limits()
        if not data and ref.key:
            check_owned_ref(tenant, ref, name)
            with storage_errors(name):
                data = get_object(self.store, ref)
        if travels_inline(len(data), inline_max_bytes):
            open_image(data, name=name, **limits)
        else:
            decode_image(data, name=name, **limits)
        with storage_errors(name):
            return put_object(self.store, request_key(request_id, INPUT_FOLDER, name.replace(" ", "_")), data,
                              "application/octet-stream", inline_max_bytes)

    def _event(self, request: tryon_pb2.TryOnRequest, tenant: str, request_id: str,
               inline_max_bytes: int = 0) -> events_pb2.TryOnEvent:
        """The request's event; photos up to ``inline_max_bytes`` ride inside it (the gRPC chain), else in storage."""
        created = Timestamp()
        created.GetCurrentTime()
        return events_pb2.TryOnEvent(
            request_id=request_id, tenant=tenant, created=created, attempt=1, stage=events_pb2.SUBMITTED,
            options=request.options,
            person_image=self._photo(tenant, request_id, request.person_image, request.person_ref, "person image",
                                     inline_max_bytes),
            style_image=self._photo(tenant, request_id, request.style_image, request.style_ref, "style image",
                                    inline_max_bytes),
        )

    def TryOn(self, request: tryon_pb2.TryOnRequest, context: grpc.ServicerContext) -> tryon_pb2.TryOnResponse:
        with self._tenant_call(context, "TryOn") as tenant, self.quotas.in_flight(tenant):
            return self._try_on(request, context, tenant)

    def _try_on(self, request: tryon_pb2.TryOnRequest, context: grpc.ServicerContext,
                tenant: str) -> tryon_pb2.TryOnResponse:
        started = time.perf_counter()
        event = self._event(request, tenant, tenant_request_id(tenant, new_request_id(request.request_id)),
                            self.settings.grpc_inline_max_bytes)
        with request_context(event.request_id):
            done = self.stages.run_chain(event, context.time_remaining())
        response = tryon_pb2.TryOnResponse(
            request_id=public_request_id(done.request_id), result=done.result, style=shop_style(done.style),
            timings=done.timings,
            exact_colour=done.exact_colour, exact_pattern=done.exact_pattern, models=done.models,
            result_manifest=done.result_manifest,
        )
        response.timings.add(stage="gateway", milliseconds=(time.perf_counter() - started) * 1000.0)
        if request.return_image:
            with storage_errors("result"):
                response.image = get_object(self.store, done.result)
        return response

    def Submit(self, request: tryon_pb2.TryOnRequest, context: grpc.ServicerContext) -> tryon_pb2.SubmitResponse:
        """Store the photos, then publish the request and its first status together.

        Idempotent: a request id the tenant already submitted (a client retrying a
        lost reply) returns that request, with nothing stored or rerun. A bus
        failure answers UNAVAILABLE with nothing published, so the retry is safe.
        """
        with self._tenant_call(context, "Submit") as tenant:
            if self.publisher is None:
                raise TransientError("the event path is not connected (Kafka worker disabled or starting)")
            request_id = tenant_request_id(tenant, new_request_id(request.request_id))
            if self.tracker.stage(request_id) is None:
                with self.quotas.in_flight(tenant, pending=self.tracker.open_count(tenant)):
                    self._publish(self._event(request, tenant, request_id))
            return tryon_pb2.SubmitResponse(request_id=public_request_id(request_id))

    def _publish(self, event: events_pb2.TryOnEvent) -> None:
        status = status_of(event)
        try:
            self.publisher.publish([(REQUESTS, event.request_id, event.SerializeToString()),
                                    (STATUS, event.request_id, status.SerializeToString())])
        except (BusError, KafkaError) as exc:
            raise TransientError(f"the event bus is unreachable; retry with request_id "
                                 f"{public_request_id(event.request_id)}: {exc}") from exc
        self.tracker.record(status)

    def _known_status(self, tenant: str, request_id: str) -> tryon_pb2.TryOnStatus:
        """The tenant's request's latest status as the tenant sees it, or NOT_FOUND (also for others' ids)."""
        status = self.tracker.get(tenant_request_id(tenant, request_id))
        if status is None:
            raise RequestNotFoundError(f"unknown request {request_id!r} (not submitted, or not seen yet)")
        return _as_public(status)

    def Get(self, request: tryon_pb2.GetRequest, context: grpc.ServicerContext) -> tryon_pb2.TryOnStatus:
        with self._tenant_call(context, "Get") as tenant:
            return self._known_status(tenant, request.request_id)

    def Watch(self, request: tryon_pb2.GetRequest, context: grpc.ServicerContext) -> Iterator[tryon_pb2.TryOnStatus]:
        """Stream the request's statuses until a final one; an unknown or foreign id ends at once with NOT_FOUND."""
        with self._tenant_call(context, "Watch") as tenant:
            self._known_status(tenant, request.request_id)
            with self.quotas.stream(tenant):
                yield from self._statuses(tenant_request_id(tenant, request.request_id), context)

    def _statuses(self, request_id: str, context: grpc.ServicerContext) -> Iterator[tryon_pb2.TryOnStatus]:
        seen = 0
        while context.is_active():
            for status in self.tracker.wait_for_change(request_id, seen, WATCH_POLL_SECONDS):
                seen += 1
                yield _as_public(status)
                if status.stage in FINAL:
                    return


def _as_public(status: tryon_pb2.TryOnStatus) -> tryon_pb2.TryOnStatus:
    """A copy of ``status`` carrying the id its tenant knows."""
    shown = tryon_pb2.TryOnStatus()
    shown.CopyFrom(status)
    shown.request_id = public_request_id(status.request_id)
    return shown
