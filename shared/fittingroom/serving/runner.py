"""``fittingroom serve <service>``: one process, two doors, one stage.

Start order: metrics endpoint, gRPC server (health NOT_SERVING), model loading,
health SERVING, Kafka worker. SIGTERM reverses it: NOT_SERVING, stop consuming,
finish in-flight calls for ``drain_seconds``, exit.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from fittingroom.errors import TransientError
from fittingroom.serving.grpc_server import GrpcServer
from fittingroom.serving.logs import configure_logging
from fittingroom.serving.metrics import export_gpu_memory, serve_metrics
from fittingroom.serving.rollout import ModelRollout, ModelVersions, with_model_refs
from fittingroom.serving.stage_base import BatchHandler
from fittingroom.serving.unary import GrpcDoor
from fittingroom.serving.tls import server_credentials
from fittingroom.chain import ServiceSpec, StageSpec
from fittingroom.settings import Settings

log = logging.getLogger(__name__)


def pin_threads(settings: Settings) -> None:
    """Size the thread pools of the numeric libraries this process already imported.

    Left alone, torch and OpenCV start one thread per core of the host, not of the
    container's CPU limit, and several services on shared cores oversubscribe them.
    Only libraries already loaded are touched: a service that runs no model
    (gateway, compositing) must not import torch just to configure it.
    """
    torch = sys.modules.get("torch")
    if torch is not None and settings.torch_threads > 0:
        torch.set_num_threads(settings.torch_threads)
    if torch is not None and settings.torch_interop_threads > 0:
        torch.set_num_interop_threads(settings.torch_interop_threads)
    cv2 = sys.modules.get("cv2")
    if cv2 is not None and settings.opencv_threads > 0:
        cv2.setNumThreads(settings.opencv_threads)


class Background(Protocol):
    def run(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class LoadedService:
    """What a service's loader returns once its models are warm."""

    handle_batch: Callable[..., list] | None = None  # a BatchHandler's handle_batch
    background: list[Background] = field(default_factory=list)


@dataclass
class ServiceDefinition:
    """How to run one service: its place in the chain (``fittingroom.chain``), servicers and loader."""

    spec: ServiceSpec
    register: Callable[[GrpcServer, BatchHandler, Settings], None]  # servicers, given the stage's gRPC door
    load: Callable[[Settings], LoadedService]
    # Model services: the registry versions their model references name now (listings only), which
    # ModelRollout compares with what is serving; None for services that run no model.
    model_versions: Callable[[Settings], ModelVersions] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def worker(self) -> StageSpec | None:
        """The topics its Kafka worker consumes and publishes; ``None`` for the gateway."""
        return self.spec if isinstance(self.spec, StageSpec) else None


class StageHandle:
    """Lets servicers be registered before the models are loaded."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.loaded: LoadedService | None = None

    def handle_batch(self, events: list, inline_max_bytes: int | None = None) -> list:
        if self.loaded is None or self.loaded.handle_batch is None:
            raise TransientError(f"{self.service} is still loading its models")
        return self.loaded.handle_batch(events, inline_max_bytes)


WORKER_HEALTH = "kafka-worker"


def _start_worker(definition: ServiceDefinition, settings: Settings, handle: StageHandle,
                  server: GrpcServer | None) -> Background:
    from fittingroom.bus import BatchConsumer, make_producer, publish
    from fittingroom.retry import RetryPolicy
    from fittingroom.serving.worker import StageWorker

    spec = definition.worker
    security = settings.kafka_security()
    consumer = BatchConsumer(
        settings.kafka_bootstrap, f"{settings.kafka_group_prefix}-{definition.name}", [spec.input_topic],
        max_batch=settings.worker_max_batch, max_wait_ms=settings.worker_max_wait_ms,
        linger_ms=settings.worker_linger_ms, security=security,
        stall_check_s=settings.kafka_stall_check_s,
    )
    # Unique per process: a restarted one is a new producer, and the group generation fences a zombie.
    transactional_id = (f"{settings.kafka_group_prefix}-{definition.name}-{socket.gethostname()}-{os.getpid()}"
                        if settings.kafka_transactions else None)
    def new_producer():
        return make_producer(settings.kafka_bootstrap, client_id=f"fittingroom-{definition.name}",
                             transactional_id=transactional_id, security=security)

    on_health = (lambda up: server.set_status(WORKER_HEALTH, up)) if server is not None else None
    return StageWorker(spec, handle, consumer, new_producer(), publish, RetryPolicy(),
                       request_deadline_s=settings.request_deadline_s, on_health=on_health,
                       max_attempts=settings.max_attempts, transactional=settings.kafka_transactions,
                       renew_producer=new_producer)


class Supervisor:
    """Runs background loops (Kafka worker, status feed) in threads; any that dies or hangs is noticed.

    A loop that raises, or returns before it was asked to stop, sets
    :attr:`failed`: the service then reports NOT_SERVING and exits non-zero, so
    its pod is restarted instead of serving on with a dead consumer. A loop that
    beats (:class:`~fittingroom.serving.worker.Heartbeat`) and then goes
    ``stall_s`` without a beat is stuck inside some call: its thread's stack is
    logged and the service goes down the same way (``stall_s`` 0: not watched).
    """

    def __init__(self, name: str, stall_s: float = 0.0) -> None:
        self.name = name
        self.stall_s = stall_s
        self.failed = threading.Event()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self._watched: list[tuple[Background, threading.Thread]] = []

    def start(self, item: Background) -> None:
        thread = threading.Thread(target=self._run, args=(item,), name=f"{self.name}-bg", daemon=True)
        self.threads.append(thread)
        thread.start()
        if self.stall_s > 0:
            if not self._watched:
                threading.Thread(target=self._watch, name=f"{self.name}-watchdog", daemon=True).start()
            self._watched.append((item, thread))

    def _run(self, item: Background) -> None:
        try:
            item.run()
        except BaseException:  # noqa: BLE001 - reported, then the process goes down
            log.critical("background loop died; the service goes down to be restarted",
                         extra={"loop": type(item).__name__}, exc_info=True)
            self.failed.set()
            return
        if not self.stopping.is_set():
            log.critical("background loop ended unasked; the service goes down to be restarted",
                         extra={"loop": type(item).__name__})
            self.failed.set()

    def _watch(self) -> None:
        while not self.stopping.wait(min(5.0, self.stall_s / 4)):
            for item, thread in list(self._watched):
                beat = getattr(item, "last_beat", None)
                if beat is not None and thread.is_alive() and time.monotonic() - beat > self.stall_s:
                    frame = sys._current_frames().get(thread.ident)
                    log.critical("background loop stuck; the service goes down to be restarted",
                                 extra={"loop": type(item).__name__, "seconds": round(time.monotonic() - beat, 1),
                                        "stack": "".join(traceback.format_stack(frame)) if frame else ""})
                    self.failed.set()
                    return

    def join(self, timeout: float) -> None:
        for thread in self.threads:
            thread.join(timeout=timeout)


def _grpc_server(definition: ServiceDefinition, settings: Settings, port: int) -> GrpcServer:
    """The service's server: TLS from the settings (stage services require the gateway's client
    certificate, the gateway's public port none), or plaintext asked for explicitly, with a warning."""
    credentials = server_credentials(settings, require_client_cert=definition.worker is not None)
    if credentials is None:
        log.warning("gRPC in PLAINTEXT (FITTINGROOM_TLS_PLAINTEXT=true): any caller on the network can read "
                    "and forge calls", extra={"port": port})
    return GrpcServer(definition.name, port, settings.grpc_max_message_bytes, max_workers=settings.grpc_workers,
                      max_streams=settings.grpc_max_streams,
                      credentials=credentials, reflection=settings.grpc_reflection, health_port=settings.health_port)


def run_service(definition: ServiceDefinition, settings: Settings) -> int:
    """Run until SIGTERM/SIGINT (exit code 0) or a background loop dies (1), then drain.

    Settings are validated before anything listens, so a misconfigured service
    (e.g. object storage without credentials) exits at start, not at its first request.
    """
    settings.validate()
    if settings.enable_grpc:
        settings.require_transport()
    if settings.enable_worker:
        settings.kafka_security()
    configure_logging(definition.name, settings.log_level)
    if settings.enable_worker and settings.kafka_security_protocol == "PLAINTEXT":
        log.warning("Kafka in PLAINTEXT (FITTINGROOM_KAFKA_SECURITY_PROTOCOL=PLAINTEXT): anyone who reaches the "
                    "brokers can read and forge events", extra={"bootstrap": settings.kafka_bootstrap})
    port = settings.grpc_port or definition.spec.grpc_port
    export_gpu_memory(definition.name)
    handle = StageHandle(definition.name)
    server = None
    if settings.enable_grpc:
        server = _grpc_server(definition, settings, port)
        definition.register(server, GrpcDoor(handle, settings.grpc_inline_max_bytes), settings)
        server.start()
    # Served once every series the service starts with exists: a first scrape sees them all.
    serve_metrics(settings.metrics_port or port + 1000)
    pin_threads(settings)  # before loading, so that warm-up runs on the pools it will serve with
    started = time.perf_counter()
    model_settings = with_model_refs(settings)
    serving = definition.model_versions(model_settings) if definition.model_versions else {}
    handle.loaded = definition.load(model_settings)
    log.info("models loaded", extra={"seconds": round(time.perf_counter() - started, 3), "models": serving})
    background = list(handle.loaded.background)
    if definition.model_versions is not None and settings.model_poll_s > 0:
        background.append(ModelRollout(definition.name, settings, handle, serving, definition.model_versions,
                                       definition.load))
    if settings.enable_worker and definition.worker is not None:
        background.append(_start_worker(definition, settings, handle, server))
    supervisor = Supervisor(definition.name, settings.loop_stall_s)
    for item in background:
        supervisor.start(item)
    if server is not None:
        server.set_serving(True)
    _wait_for_signal(supervisor.failed)
    code = 1 if supervisor.failed.is_set() else 0
    log.info("draining", extra={"seconds": settings.drain_seconds, "exit_code": code})
    if server is not None:
        server.set_serving(False)
    supervisor.stopping.set()
    for item in background:
        item.stop()
    supervisor.join(settings.drain_seconds)
    if server is not None:
        server.stop(settings.drain_seconds)
    log.info("stopped", extra={"exit_code": code})
    return code


def _wait_for_signal(failed: threading.Event) -> None:
    """Return on SIGTERM/SIGINT, or as soon as ``failed`` is set."""

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal received", extra={"signal": signal.Signals(signum).name})
        failed_or_stopped.set()

    failed_or_stopped = threading.Event()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not (failed_or_stopped.is_set() or failed.is_set()):
        failed_or_stopped.wait(0.5)
