"""gRPC server scaffolding: health, reflection, metrics + error interceptor, limits.

Health reports NOT_SERVING until the service says its models are loaded, and
again while draining after SIGTERM, so load balancers stop sending first.

Three thread pools, so no kind of call can starve another: unary calls share
the main pool, server streams (``Watch``) get a pool of their own with a cap on
how many are open (more are refused with RESOURCE_EXHAUSTED), and health checks
get a small pool that nothing else uses, so a liveness probe answers even while
every other thread waits on a stream or a slow stage.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent import futures
from typing import Any, Callable, Iterable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from fittingroom.errors import OverloadedError
from fittingroom.serving.errors import grpc_status, trailing_metadata
from fittingroom.serving.metrics import INFLIGHT, REQUESTS, STAGE_LATENCY

log = logging.getLogger(__name__)
OUR_PACKAGE = "/fittingroom.v1."
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
HEALTH_WORKERS = 2
# Stream threads beyond the cap, so that a stream over it is refused at once instead of queueing.
STREAM_REFUSAL_WORKERS = 2
STREAM_RETRY_AFTER_MS = 1000


class StreamSlots:
    """At most ``limit`` open server streams; a call over it is refused, not queued."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Take a slot or raise :class:`OverloadedError`."""
        with self._lock:
            if self.open >= self.limit:
                raise OverloadedError(f"{self.open} streams are open, the most this server holds; retry later",
                                      STREAM_RETRY_AFTER_MS)
            self.open += 1

    def release(self) -> None:
        with self._lock:
            self.open -= 1


def _on_pool(behavior: Callable, pool: futures.ThreadPoolExecutor) -> Callable:
    """``behavior`` run on ``pool`` instead of the server's main pool (grpc's per-method pool hook)."""

    def run(request: Any, context: grpc.ServicerContext) -> Any:
        return behavior(request, context)

    run.experimental_thread_pool = pool
    return run


class PoolRouter(grpc.ServerInterceptor):
    """Sends health checks and server streams to pools of their own (outermost interceptor)."""

    def __init__(self, health_pool: futures.ThreadPoolExecutor, stream_pool: futures.ThreadPoolExecutor) -> None:
        self.health_pool = health_pool
        self.stream_pool = stream_pool

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        if handler_call_details.method == HEALTH_CHECK and handler.unary_unary:
            return handler._replace(unary_unary=_on_pool(handler.unary_unary, self.health_pool))
        if handler.unary_stream:
            return handler._replace(unary_stream=_on_pool(handler.unary_stream, self.stream_pool))
        return handler


class ServiceInterceptor(grpc.ServerInterceptor):
    """Times and counts every call of our services, caps open streams and maps typed errors to statuses."""

    def __init__(self, service: str, stream_slots: StreamSlots | None = None) -> None:
        self.service = service
        self.stream_slots = stream_slots or StreamSlots(limit=2**31)

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
        context.set_trailing_metadata(trailing_metadata(exc, code))
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
                self.stream_slots.acquire()
            except OverloadedError as exc:
                self._fail(exc, context)
            try:
                yield from behavior(request, context)
                REQUESTS.labels(self.service, "grpc", "ok").inc()
            except Exception as exc:  # noqa: BLE001
                self._fail(exc, context)
            finally:
                self.stream_slots.release()

        return wrapped


class GrpcServer:
    """A gRPC server with our standard extras; call ``set_serving(True)`` once ready."""

    def __init__(self, service: str, port: int, max_message_bytes: int, max_workers: int = 16,
                 max_streams: int = 256, credentials: grpc.ServerCredentials | None = None,
                 reflection: bool = False, health_port: int = 0) -> None:
        self.service = service
        health_pool = futures.ThreadPoolExecutor(max_workers=HEALTH_WORKERS, thread_name_prefix=f"{service}-health")
        stream_pool = futures.ThreadPoolExecutor(max_workers=max_streams + STREAM_REFUSAL_WORKERS,
                                                 thread_name_prefix=f"{service}-stream")
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=f"{service}-grpc"),
            interceptors=[PoolRouter(health_pool, stream_pool), ServiceInterceptor(service, StreamSlots(max_streams))],
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
            ],
        )
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.service_names: list[str] = []
        self.reflection = reflection
        self.tls = credentials is not None
        address = f"0.0.0.0:{port}"
        self.port = (self.server.add_secure_port(address, credentials) if credentials is not None
                     else self.server.add_insecure_port(address))
        self.health_server = self._health_only(health_port) if health_port else None
        self.set_serving(False)

    def _health_only(self, port: int) -> grpc.Server:
        """A plaintext server answering only the health service, for probes that cannot speak TLS (the kubelet's).

        It shares the health states of the main server and reveals nothing else.
        """
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=HEALTH_WORKERS,
                                                        thread_name_prefix=f"{self.service}-probe"))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        self.health_port = server.add_insecure_port(f"0.0.0.0:{port}")
        return server

    def add(self, add_to_server: Callable[[Any, grpc.Server], None], servicer: Any, full_name: str) -> None:
        """Register a servicer and its fully qualified name (for health and reflection)."""
        add_to_server(servicer, self.server)
        self.service_names.append(full_name)

    def start(self) -> None:
        """Listen; reflection only when asked for, since it lists the whole API to any caller."""
        if self.reflection:
            names = [*self.service_names, reflection.SERVICE_NAME, health.SERVICE_NAME]
            reflection.enable_server_reflection(names, self.server)
        self.server.start()
        if self.health_server is not None:
            self.health_server.start()
            log.info("plaintext health-only port for probes", extra={"port": self.health_port})
        log.info("gRPC listening", extra={"port": self.port, "services": self.service_names, "tls": self.tls,
                                          "reflection": self.reflection})

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
        if self.health_server is not None:
            self.health_server.stop(0)
