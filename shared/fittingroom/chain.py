"""The try-on chain, declared once: every service, its topics, handler, gRPC method and ports.

Everything that needs to know the chain derives it from :data:`CHAIN` and
:data:`GATEWAY`: each stage's Kafka worker (input and output topic), the
gateway's gRPC chain (stage order and addresses), its status tracker (progress
topics), topic provisioning (:data:`ALL_TOPICS`) and the default ports
(settings' help texts, ``make up``, the Dockerfile and the chart are checked
against them by tests).

Handlers are named by dotted path, so this core module imports no service.
"""

from __future__ import annotations

from dataclasses import dataclass

REQUESTS = "tryon.requests"
FAILED = "tryon.failed"
DLQ = "tryon.dlq"
# The latest TryOnStatus of each request, keyed by request id and compacted: the
# gateway's durable status. One writer per request (the gateway's status projector).
STATUS = "tryon.status"


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the deployment: its name and ports (metrics on ``grpc_port + 1000``)."""

    name: str
    grpc_port: int

    @property
    def metrics_port(self) -> int:
        return self.grpc_port + 1000

    @property
    def local_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


@dataclass(frozen=True)
class StageSpec(ServiceSpec):
    """A stage of the chain: what it consumes and publishes, and how it is called."""

    input_topic: str = ""
    output_topic: str = ""
    handler: str = ""  # "module:Class" of its batch handler
    grpc_method: str = ""  # "/package.Service/Method"


GATEWAY = ServiceSpec("gateway", 50050)

CHAIN: tuple[StageSpec, ...] = (
    StageSpec("segmentation", 50051, REQUESTS, "tryon.segmented",
              "fittingroom.segmentation.adapter:SegmentationStage", "/fittingroom.v1.SegmentationService/Segment"),
    StageSpec("style", 50052, "tryon.segmented", "tryon.styled",
              "fittingroom.style.adapter:StyleStage", "/fittingroom.v1.StyleService/Classify"),
    StageSpec("translation", 50053, "tryon.styled", "tryon.translated",
              "fittingroom.translation.adapter:TranslationStage", "/fittingroom.v1.TranslationService/Translate"),
    StageSpec("compositing", 50054, "tryon.translated", "tryon.completed",
              "fittingroom.compositing.adapter:CompositingStage", "/fittingroom.v1.CompositingService/Composite"),
)

SERVICES: tuple[ServiceSpec, ...] = (GATEWAY, *CHAIN)
COMPLETED = CHAIN[-1].output_topic
# What the gateway follows to report a request's progress: every step, and failure.
PROGRESS_TOPICS: tuple[str, ...] = (REQUESTS, *(s.output_topic for s in CHAIN), FAILED)
COMPACTED_TOPICS: tuple[str, ...] = (STATUS,)
ALL_TOPICS: tuple[str, ...] = (*PROGRESS_TOPICS, STATUS, DLQ)


def stage(name: str) -> StageSpec:
    """The chain's stage called ``name``."""
    for spec in CHAIN:
        if spec.name == name:
            return spec
    raise KeyError(f"no stage {name!r}; the chain is {', '.join(s.name for s in CHAIN)}")


def service(name: str) -> ServiceSpec:
    """The service called ``name`` (the gateway or a stage)."""
    return GATEWAY if name == GATEWAY.name else stage(name)


def _check_chain() -> None:
    """Each stage consumes what the one before it publishes."""
    topic = REQUESTS
    for spec in CHAIN:
        if spec.input_topic != topic:
            raise AssertionError(f"{spec.name} consumes {spec.input_topic}, but the chain publishes {topic} before it")
        topic = spec.output_topic


_check_chain()
