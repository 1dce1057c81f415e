"""``fittingroom serve <service>``: one process, two doors, one stage.

Start order: metrics endpoint, gRPC server (health NOT_SERVING), model loading,
health SERVING, Kafka worker. SIGTERM reverses it: NOT_SERVING, stop consuming,
finish in-flight calls for ``drain_seconds``, exit.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from fittingroom.errors import TransientError
from fittingroom.serving.grpc_server import GrpcServer
from fittingroom.serving.logs import configure_logging
from fittingroom.serving.metrics import export_gpu_memory, serve_metrics
from fittingroom.chain import ServiceSpec, StageSpec
from fittingroom.settings import Settings

log = logging.getLogger(__name__)


def _pin_torch_threads(threads: int) -> None:
    """Pin torch's intra-op CPU threads in processes whose models loaded torch.

    A service that runs no model (gateway, compositing) never imports torch, so
    it does not pay its ~500 MB of resident memory.
    """
    torch = sys.modules.get("torch")
    if torch is not None and threads > 0:
        torch.set_num_threads(threads)


class Background(Protocol):
    def run(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class LoadedService:
    """What a service's loader returns once its models are warm."""

    handle_batch: Callable[[list], list] | None = None
    background: list[Background] = field(default_factory=list)


@dataclass
class ServiceDefinition:
    """How to run one service: its place in the chain (``fittingroom.chain``), servicers and loader."""

    spec: ServiceSpec
    register: Callable[[GrpcServer, "StageHandle", Settings], None]
    load: Callable[[Settings], LoadedService]

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

    def handle_batch(self, events: list) -> list:
        if self.loaded is None or self.loaded.handle_batch is None:
            raise TransientError(f"{self.service} is still loading its models")
        return self.loaded.handle_batch(events)


def _start_worker(definition: ServiceDefinition, settings: Settings, handle: StageHandle) -> Background:
    from fittingroom.bus import BatchConsumer, make_producer, publish
    from fittingroom.retry import RetryPolicy
    from fittingroom.serving.worker import StageWorker

    spec = definition.worker
    consumer = BatchConsumer(
        settings.kafka_bootstrap, f"{settings.kafka_group_prefix}-{definition.name}", [spec.input_topic],
        max_batch=settings.worker_max_batch, max_wait_ms=settings.worker_max_wait_ms,
    )
    producer = make_producer(settings.kafka_bootstrap, client_id=f"fittingroom-{definition.name}")
    return StageWorker(spec, handle, consumer, producer, publish, RetryPolicy())


def run_service(definition: ServiceDefinition, settings: Settings) -> None:
    """Run until SIGTERM/SIGINT, then drain and return."""
    configure_logging(definition.name, settings.log_level)
    port = settings.grpc_port or definition.spec.grpc_port
    serve_metrics(settings.metrics_port or port + 1000)
    export_gpu_memory(definition.name)
    handle = StageHandle(definition.name)
    server = None
    if settings.enable_grpc:
        server = GrpcServer(definition.name, port, settings.grpc_max_message_bytes)
        definition.register(server, handle, settings)
        server.start()
    started = time.perf_counter()
    handle.loaded = definition.load(settings)
    _pin_torch_threads(settings.torch_threads)
    log.info("models loaded", extra={"seconds": round(time.perf_counter() - started, 3)})
    background = list(handle.loaded.background)
    if settings.enable_worker and definition.worker is not None:
        background.append(_start_worker(definition, settings, handle))
    threads = [threading.Thread(target=b.run, name=f"{definition.name}-bg", daemon=True) for b in background]
    for thread in threads:
        thread.start()
    if server is not None:
        server.set_serving(True)
    _wait_for_signal()
    log.info("draining", extra={"seconds": settings.drain_seconds})
    if server is not None:
        server.set_serving(False)
    for item in background:
        item.stop()
    for thread in threads:
        thread.join(timeout=settings.drain_seconds)
    if server is not None:
        server.stop(settings.drain_seconds)
    log.info("stopped")


def _wait_for_signal() -> None:
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal received", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.is_set():
        stop.wait(0.5)
