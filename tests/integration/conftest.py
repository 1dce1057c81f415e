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
import socket
import subprocess
import sys
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import pytest
from kafka import KafkaAdminClient

from fittingroom.bus import is_transient
from fittingroom.provision import connect_admin
from fittingroom.retry import RetryPolicy, retry_call
from fittingroom.s3store import MinioStore

T = TypeVar("T")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for `stack` under --import-mode=importlib
INFRA_DIR = Path(__file__).resolve().parents[2] / "shared" / "infra"
FIRST_START_TIMEOUT_S = 900  # a fresh machine builds MinIO and fetches Kafka first


@dataclass(frozen=True)
class Infra:
    """The running stack: its FITTINGROOM_* environment and how to drive its scripts."""

    env: dict[str, str]
    owned: bool

    def script(self, name: str, action: str, timeout_s: float = 120) -> None:
        """Run ``shared/infra/<name> <action>`` against this stack's state folder."""
        if "FITTINGROOM_INFRA_DIR" not in self.env:
            raise RuntimeError("reused stack without FITTINGROOM_INFRA_DIR: cannot drive its scripts")
        subprocess.run(["bash", str(INFRA_DIR / name), action], env={**os.environ, **self.env},
                       check=True, timeout=timeout_s)


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

    def __init__(self, infra: Infra, script: str) -> None:
        self.infra = infra
        self.script = script

    def stop(self) -> None:
        self.infra.script(self.script, "stop")

    def start(self) -> None:
        self.infra.script(self.script, "start")


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of infra.env as a dict."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    """Kafka + MinIO for the whole session (started here, or reused from the env)."""
    if os.environ.get("FITTINGROOM_KAFKA_BOOTSTRAP") and os.environ.get("FITTINGROOM_S3_ENDPOINT"):
        yield Infra({k: v for k, v in os.environ.items() if k.startswith("FITTINGROOM_")}, owned=False)
        return
    state = tmp_path_factory.mktemp("infra")
    kafka, controller, minio, console = free_ports(4)
    env = {
        "FITTINGROOM_INFRA_DIR": str(state),
        "FITTINGROOM_KAFKA_PORT": str(kafka),
        "FITTINGROOM_KAFKA_CONTROLLER_PORT": str(controller),
        "FITTINGROOM_MINIO_PORT": str(minio),
        "FITTINGROOM_MINIO_CONSOLE_PORT": str(console),
        "FITTINGROOM_INFRA_OWNER_PID": str(os.getpid()),
    }
    infra = Infra(env, owned=True)
    try:
        infra.script("infra.sh", "up", timeout_s=FIRST_START_TIMEOUT_S)
        yield Infra({**env, **read_env_file(state / "infra.env")}, owned=True)
    finally:
        infra.script("infra.sh", "down")


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
    return ServerControl(infra, "minio.sh")


@pytest.fixture(scope="session")
def kafka_server(infra: Infra) -> ServerControl:
    """Stop/start control over the test Kafka broker (fault tests)."""
    return ServerControl(infra, "kafka.sh")


@pytest.fixture(scope="session")
def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory):
    """All five services as real processes, wired to the session's Kafka and MinIO."""
    from stack import start_stack

    running = start_stack(infra.env, tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()
