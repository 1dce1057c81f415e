"""gRPC server scaffolding: health, reflection, metrics + error interceptor, limits.

Health reports NOT_SERVING until the service says its models are loaded, and
again while draining after SIGTERM, so load balancers stop sending first.
"""

from __future__ import annotations

import logging
import time
from concurrent import futures
from typing import Any, Callable, Iterable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from fittingroom.serving.errors import ERROR_CODE_METADATA, grpc_status
from fittingroom.serving.metrics import INFLIGHT, REQUESTS, STAGE_LATENCY

log = logging.getLogger(__name__)
OUR_PACKAGE = "/fittingroom.v1."


class ServiceInterceptor(grpc.ServerInterceptor):
    """Times and counts every call of our services and maps typed errors to statuses."""

    def __init__(self, service: str) -> None:
        self.service = service

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or not handler_call_details.method.startswith(OUR_PACKAGE):
            return handler
        if handler.unary_unary:
            return handler._replace(unary_unary=self._unary(handler.unary_unary))
        if handler.unary_stream:
            return handler._replace(unary_stream=self._stream(handler.unary_stream))
        return handler

    def _fail(self, exc: Exception, context: grpc.ServicerContext) -> None:
        status, message, code = grpc_status(exc)
        if status in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
            log.exception("internal error in %s", self.service)
        REQUESTS.labels(self.service, "grpc", code.value).inc()
        context.set_trailing_metadata(((ERROR_CODE_METADATA, code.value),))
        context.abort(status, message)

    def _unary(self, behavior: Callable) -> Callable:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            start = time.perf_counter()
            INFLIGHT.labels(self.service, "grpc").inc()
            try:
                response = behavior(request, context)
                REQUESTS.labels(self.service, "grpc", "ok").inc()
                return response
            except Exception as exc:  # noqa: BLE001 - every error becomes a status
                self._fail(exc, context)
            finally:
                INFLIGHT.labels(self.service, "grpc").dec()
                STAGE_LATENCY.labels(self.service, "grpc").observe(time.perf_counter() - start)

        return wrapped

    def _stream(self, behavior: Callable) -> Callable:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterable[Any]:
            try:
                yield from behavior(request, context)
                REQUESTS.labels(self.service, "grpc", "ok").inc()
            except Exception as exc:  # noqa: BLE001
                self._fail(exc, context)

        return wrapped


class GrpcServer:
    """A gRPC server with our standard extras; call ``set_serving(True)`` once ready."""

    def __init__(self, service: str, port: int, max_message_bytes: int, max_workers: int = 16) -> None:
        self.service = service
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=f"{service}-grpc"),
            interceptors=[ServiceInterceptor(service)],
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
            ],
        )
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.service_names: list[str] = []
        self.port = self.server.add_insecure_port(f"0.0.0.0:{port}")
        self.set_serving(False)

    def add(self, add_to_server: Callable[[Any, grpc.Server], None], servicer: Any, full_name: str) -> None:
        """Register a servicer and its fully qualified name (for health and reflection)."""
        add_to_server(servicer, self.server)
        self.service_names.append(full_name)

    def start(self) -> None:
        names = [*self.service_names, reflection.SERVICE_NAME, health.SERVICE_NAME]
        reflection.enable_server_reflection(names, self.server)
        self.server.start()
        log.info("gRPC listening", extra={"port": self.port, "services": self.service_names})

    def set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ["", *self.service_names]:
            self.health.set(name, status)

    def set_status(self, name: str, serving: bool) -> None:
        """Health of one named part (``kafka-worker``): NOT_SERVING while it is degraded."""
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        self.health.set(name, status)

    def stop(self, grace_seconds: float) -> None:
        """Refuse new calls, let in-flight ones finish for up to ``grace_seconds``."""
        self.set_serving(False)
        self.server.stop(grace_seconds).wait()
