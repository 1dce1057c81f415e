"""Real Apache Kafka and MinIO for the integration tests, started by the project's scripts.

One session-wide stack on free loopback ports, in a temporary state folder, via
``shared/infra/infra.sh up`` and stopped with ``infra.sh down`` at the end (a
watchdog stops it too if the test process is killed). When
FITTINGROOM_KAFKA_BOOTSTRAP and FITTINGROOM_S3_ENDPOINT are already set (e.g.
``eval "$(bash shared/infra/infra.sh env)"``), that running stack is reused and
left running; the MinIO restart helper then needs FITTINGROOM_INFRA_DIR too.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import grpc
import pytest
from kafka import KafkaAdminClient

from fittingroom.bus import is_transient
from fittingroom.cli.localstack import InfraControl, start_infra, stop_infra
from fittingroom.provision import connect_admin
from fittingroom.retry import RetryPolicy, retry_call
from fittingroom.s3store import MinioStore
from fittingroom.v1 import events_pb2, tryon_pb2

T = TypeVar("T")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # helpers beside the tests, under --import-mode=importlib


@dataclass(frozen=True)
class Infra:
    """The running Kafka and MinIO: their FITTINGROOM_* environment, and whether this session started them."""

    env: dict[str, str]
    owned: bool


@dataclass(frozen=True)
class MinioConfig:
    """Where the test MinIO listens and the buckets infra.sh created."""

    endpoint: str
    access_key: str
    secret_key: str
    requests_bucket: str
    models_bucket: str
    expiry_days: int

    def store(self, bucket: str, retry: RetryPolicy | None = None) -> MinioStore:
        """A :class:`MinioStore` on ``bucket`` of this server."""
        return MinioStore(self.endpoint, self.access_key, self.secret_key, bucket, retry=retry)


class ServerControl:
    """Stops and starts one test server (same port and data) for fault tests."""

    def __init__(self, infra: Infra, server: str) -> None:
        self.control = InfraControl(infra.env)
        self.server = server

    def stop(self) -> None:
        self.control.stop(self.server)

    def start(self) -> None:
        self.control.start(self.server)


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    """Kafka + MinIO for the whole session (started here, or reused from the env)."""
    if os.environ.get("FITTINGROOM_KAFKA_BOOTSTRAP") and os.environ.get("FITTINGROOM_S3_ENDPOINT"):
        yield Infra({k: v for k, v in os.environ.items() if k.startswith("FITTINGROOM_")}, owned=False)
        return
    env = start_infra(tmp_path_factory.mktemp("infra"))
    # The tests' own Kafka clients (and helper processes) read their security from the
    # environment, as every tool does: infra.sh's admin user and the broker's CA.
    kafka_env = {k: v for k, v in env.items() if k.startswith("FITTINGROOM_KAFKA_")}
    saved = {k: os.environ.get(k) for k in kafka_env}
    os.environ.update(kafka_env)
    try:
        yield Infra(env, owned=True)
    finally:
        stop_infra(env)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: Infra) -> str:
    """``host:port`` of the test broker."""
    return infra.env["FITTINGROOM_KAFKA_BOOTSTRAP"]


@pytest.fixture(scope="session")
def kafka_partitions(infra: Infra) -> int:
    """Partitions infra.sh gave each tryon.* topic."""
    return int(infra.env.get("FITTINGROOM_KAFKA_PARTITIONS", "6"))


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> Iterator[KafkaAdminClient]:
    admin = connect_admin(kafka_bootstrap)
    yield admin
    admin.close()


def admin_call(fn: Callable[[], T]) -> T:
    """An admin request, retried while the broker (or our connection to it) recovers."""
    return retry_call(fn, RetryPolicy(deadline_s=30.0), is_transient)


def wait_final(client, request_id: str, timeout_s: float = 180) -> tryon_pb2.TryOnStatus:
    """The request's status once it is completed or failed, asked through the gateway ``client``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            status = client.Get(tryon_pb2.GetRequest(request_id=request_id), timeout=5)
            if status.stage in (events_pb2.COMPLETED, events_pb2.FAILED):
                return status
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
        time.sleep(0.3)
    raise TimeoutError(f"{request_id} did not finish in {timeout_s}s")


@pytest.fixture
def make_topic(kafka_admin: KafkaAdminClient) -> Iterator[Callable[[int], str]]:
    """Factory: a fresh, uniquely named topic with the given partition count."""
    created: list[str] = []

    def make(partitions: int = 3) -> str:
        name = f"test.{uuid.uuid4().hex[:12]}"
        admin_call(lambda: kafka_admin.create_topics(
            {name: {"num_partitions": partitions, "replication_factor": 1}}, wait_for_metadata=True))
        created.append(name)
        return name

    yield make
    if created:
        admin_call(lambda: kafka_admin.delete_topics(created))


@pytest.fixture(scope="session")
def minio_config(infra: Infra) -> MinioConfig:
    env = infra.env
    return MinioConfig(
        endpoint=env["FITTINGROOM_S3_ENDPOINT"],
        access_key=env["FITTINGROOM_S3_ACCESS_KEY"],
        secret_key=env["FITTINGROOM_S3_SECRET_KEY"],
        requests_bucket=env.get("FITTINGROOM_REQUESTS_BUCKET", "fittingroom-requests"),
        models_bucket=env.get("FITTINGROOM_MODELS_BUCKET", "fittingroom-models"),
        expiry_days=int(env.get("FITTINGROOM_REQUESTS_EXPIRY_DAYS", "7")),
    )


@pytest.fixture
def minio_store(minio_config: MinioConfig) -> MinioStore:
    """A :class:`MinioStore` on a fresh bucket of its own (isolated listings)."""
    store = minio_config.store(f"test-{uuid.uuid4().hex[:12]}")
    store.ensure_bucket()
    return store


@pytest.fixture(scope="session")
def minio_server(infra: Infra) -> ServerControl:
    """Stop/start control over the test MinIO (fault tests)."""
    return ServerControl(infra, "minio")


@pytest.fixture(scope="session")
def kafka_server(infra: Infra) -> ServerControl:
    """Stop/start control over the test Kafka broker (fault tests)."""
    return ServerControl(infra, "kafka")


@pytest.fixture(scope="session")
def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory):
    """All five services as real processes, wired to the session's Kafka and MinIO."""
    from fittingroom.cli.localstack import start_stack

    running = start_stack(infra.env, tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()
