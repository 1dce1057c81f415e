"""The five Fittingroom services as real processes on loopback: for integration tests and ``fittingroom chaos``.

Each service runs ``python -m fittingroom.cli.serve <name>`` on free ports,
wired to a running Kafka and MinIO (``infra.sh up``'s environment); a
:class:`ServiceProcess` can be SIGKILLed and started again, and
:class:`InfraControl` stops and starts the broker or object store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fittingroom.apikeys import add_key
from fittingroom.kafka_auth import KafkaSecurity, service_user
from fittingroom.ports import free_port, free_ports
from fittingroom.s3access import service_env
from fittingroom.settings import Settings
from fittingroom.tlsgen import TlsFiles, write_local_pki

SERVICES = ("segmentation", "style", "translation", "compositing", "gateway")
REPO = Path(__file__).resolve().parents[2]
INFRA_SCRIPTS = REPO / "shared" / "infra"
START_TIMEOUT_S = 240


def open_local_channel(address: str, credentials: grpc.ChannelCredentials | None = None) -> grpc.Channel:
    """A channel to a local service: TLS with ``credentials``, else plaintext."""
    if credentials is None:
        return grpc.insecure_channel(address)
    return grpc.secure_channel(address, credentials)


def wait_serving(address: str, timeout_s: float, credentials: grpc.ChannelCredentials | None = None) -> None:
    """Block until the server's standard health service says SERVING (over TLS with ``credentials``)."""
    deadline = time.monotonic() + timeout_s
    with open_local_channel(address, credentials) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.3)
    raise TimeoutError(f"{address} not SERVING after {timeout_s}s")


@dataclass
class ServiceProcess:
    name: str
    port: int
    metrics_port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fittingroom.cli.serve", self.name],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
        )
        log.close()

    def kill(self) -> None:
        """SIGKILL: no drain, no commit — what a crashed pod looks like."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen | None, grace_s: float = 30.0) -> None:
    """SIGTERM a running child and wait for it to drain; SIGKILL it if it outlives ``grace_s``."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace_s)


LOCAL_TENANT = "local"
TLS_CLIENT = "client"  # the stack's own client certificate (health checks, tests)


@dataclass
class Stack:
    """Running services; the gateway's key file holds a key for tenant ``local``, the stack's ``api_key``."""

    services: dict[str, ServiceProcess] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    api_keys_file: Path | None = None
    api_key: str = ""
    tls: dict[str, TlsFiles] = field(default_factory=dict)
    # The model services' FITTINGROOM_MODEL_REFS_DIR (the chart's models ConfigMap): a file written
    # here (e.g. translation_model) rolls the running services to that reference.
    model_refs_dir: Path | None = None

    def credentials(self) -> grpc.ChannelCredentials | None:
        """TLS credentials of the stack's own client certificate (accepted by every service); ``None`` in plaintext."""
        if not self.tls:
            return None
        client = self.tls[TLS_CLIENT]
        return grpc.ssl_channel_credentials(client.ca.read_bytes(), client.key.read_bytes(), client.cert.read_bytes())

    def channel(self, address: str) -> grpc.Channel:
        """A channel to one of the stack's services, over TLS when the stack has it."""
        return open_local_channel(address, self.credentials())

    @property
    def gateway(self) -> str:
        return self.services["gateway"].address

    def wait_all(self, timeout_s: float = START_TIMEOUT_S) -> None:
        for service in self.services.values():
            wait_serving(service.address, timeout_s, self.credentials())

    def restart(self, name: str) -> None:
        self.services[name].start()
        wait_serving(self.services[name].address, START_TIMEOUT_S, self.credentials())

    def add_replica(self, name: str, label: str, **settings: str) -> ServiceProcess:
        """Start one more replica of ``name`` on its own ports; wait for SERVING.

        Same settings as the first, but for ``settings`` (``FITTINGROOM_*`` names and values).
        """
        first = self.services[name]
        port, metrics_port = free_port(), free_port()
        env = dict(first.env, **settings, FITTINGROOM_GRPC_PORT=str(port), FITTINGROOM_METRICS_PORT=str(metrics_port))
        replica = ServiceProcess(name, port, metrics_port, env, first.log_path.with_name(f"{label}.log"))
        replica.start()
        wait_serving(replica.address, START_TIMEOUT_S, self.credentials())
        return replica

    def logs(self) -> str:
        return "\n".join(f"--- {s.name}\n{s.log_path.read_text(errors='replace')[-3000:]}" for s in self.services.values())

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()


@dataclass(frozen=True)
class InfraControl:
    """Stops and starts the local broker (``kafka``) or object store (``minio``) of a running ``infra.sh up``."""

    env: dict[str, str]

    def run(self, server: str, action: str, timeout_s: float = 180) -> None:
        if "FITTINGROOM_INFRA_DIR" not in self.env:
            raise RuntimeError("no FITTINGROOM_INFRA_DIR: cannot drive the infra scripts")
        subprocess.run(["bash", str(INFRA_SCRIPTS / f"{server}.sh"), action], env={**os.environ, **self.env},
                       check=True, timeout=timeout_s, stdout=subprocess.DEVNULL)

    def stop(self, server: str) -> None:
        self.run(server, "stop")

    def start(self, server: str) -> None:
        self.run(server, "start")


FIRST_START_TIMEOUT_S = 900  # a fresh machine builds MinIO and fetches Kafka first


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of infra.env as a dict."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def start_infra(state: Path) -> dict[str, str]:
    """A private Kafka and MinIO on free loopback ports with ``state`` as their folder; their FITTINGROOM_* env.

    A watchdog stops them if this process dies; :func:`stop_infra` stops them otherwise.
    """
    kafka, controller, mtls, minio, console = free_ports(5)
    env = {
        "FITTINGROOM_INFRA_DIR": str(state),
        "FITTINGROOM_KAFKA_PORT": str(kafka),
        "FITTINGROOM_KAFKA_CONTROLLER_PORT": str(controller),
        "FITTINGROOM_KAFKA_MTLS_PORT": str(mtls),
        "FITTINGROOM_MINIO_PORT": str(minio),
        "FITTINGROOM_MINIO_CONSOLE_PORT": str(console),
        "FITTINGROOM_INFRA_OWNER_PID": str(os.getpid()),
    }
    try:
        InfraControl(env).run("infra", "up", timeout_s=FIRST_START_TIMEOUT_S)
    except BaseException:
        with suppress(Exception):  # whatever did start (a server, the watchdog) must not outlive the failed start
            stop_infra(env)
        raise
    return {**env, **read_env_file(state / "infra.env")}


def infra_kafka_security(infra_env: dict[str, str]) -> KafkaSecurity:
    """The Kafka security of ``infra.sh up``'s environment: its admin user (tools, tests, provisioning)."""
    return Settings.from_env(infra_env).kafka_security()


def service_kafka_env(infra_env: dict[str, str], service: str) -> dict[str, str]:
    """The Kafka user of ``service`` on the local broker (its password file), as FITTINGROOM_* variables.

    Each service runs as its own principal, held to its ACLs; empty for a broker
    without the local users (one reused from the environment, e.g. in plaintext).
    """
    users = infra_env.get("FITTINGROOM_KAFKA_USERS_DIR")
    if not users:
        return {}
    user = service_user(service)
    return {"FITTINGROOM_KAFKA_USERNAME": user, "FITTINGROOM_KAFKA_PASSWORD_FILE": str(Path(users) / user)}


def grant_service_acls(infra_env: dict[str, str], group_prefix: str) -> None:
    """Create the services' ACLs for ``group_prefix`` (their consumer groups and transactional ids), as the admin."""
    from fittingroom.provision import connect_admin, ensure_service_acls

    security = infra_kafka_security(infra_env)
    if security.protocol == "PLAINTEXT":
        return
    admin = connect_admin(infra_env["FITTINGROOM_KAFKA_BOOTSTRAP"], security=security)
    try:
        ensure_service_acls(admin, group_prefix)
    finally:
        admin.close()


def stop_infra(env: dict[str, str]) -> None:
    InfraControl(env).run("infra", "down")


def start_stack(infra_env: dict[str, str], work: Path, services: tuple[str, ...] = SERVICES,
                tls: bool = False, anonymous: bool = False) -> Stack:
    """Seed the starter models into MinIO, then start ``services`` (all five by default) and wait for SERVING.

    What each service gets is :func:`plan_stack`'s.
    """
    stack = plan_stack(infra_env, work, services, tls, anonymous)
    for service in stack.services.values():
        service.start()
    try:
        stack.wait_all()
    except Exception:
        print(stack.logs())
        stack.stop()
        raise
    return stack


def plan_stack(infra_env: dict[str, str], work: Path, services: tuple[str, ...] = SERVICES,
               tls: bool = False, anonymous: bool = False) -> Stack:
    """Everything :func:`start_stack` does before starting a process: a :class:`Stack` of services not yet started.

    Also what the image tests run containers from (tests/deployment/test_images.py).

    A gateway alone (``services=("gateway",)``) needs no models and starts in seconds:
    enough for tests of its own edge (health, Watch, keys) that never reach a stage.
    With ``tls`` every service gets a certificate from a throwaway CA in ``work/tls``
    (``fittingroom.tlsgen``), and the stack's clients one too; without, the services run
    on explicit plaintext (``FITTINGROOM_TLS_PLAINTEXT``), as their many test clients expect.
    The models are seeded with the admin pair of ``infra_env``; each service runs as its
    own MinIO user (``fittingroom.s3access.service_env``) and reaches Kafka as its own
    principal, with the ACLs provisioning gives it (granted here for the stack's own
    consumer-group prefix). With ``anonymous`` the gateway has no key file and serves
    every caller as tenant ``public`` (the stack's ``api_key`` is then empty).
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith("FITTINGROOM_")}
    base.update(infra_env)
    group_prefix = f"it-{uuid.uuid4().hex[:8]}"
    grant_service_acls(infra_env, group_prefix)
    base.update({
        "FITTINGROOM_KAFKA_GROUP_PREFIX": group_prefix,
        "FITTINGROOM_DEVICE": "cpu",
        "FITTINGROOM_STORE_DIR": str(work / "store"),
        "FITTINGROOM_WORKER_MAX_WAIT_MS": "100",
        "FITTINGROOM_DRAIN_SECONDS": "3",
        # A loop stuck in a call shows in its service's log (with its stack) well within a test's wait.
        "FITTINGROOM_LOOP_STALL_S": "120",
        # A model registered or a reference changed is served within seconds (the chart's default is 30).
        "FITTINGROOM_MODEL_POLL_S": "2",
        "FITTINGROOM_MODEL_REFS_DIR": str(work / "model-refs"),
        "OMP_NUM_THREADS": "1",
        "FITTINGROOM_TORCH_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    })
    if set(services) - {"gateway"}:
        subprocess.run([sys.executable, "-m", "fittingroom.cli.main", "models", "seed"], env=base, check=True, cwd=REPO)
    ports = {name: (free_port(), free_port()) for name in SERVICES}
    for name in SERVICES:
        base[f"FITTINGROOM_{name.upper()}_ADDRESS"] = f"127.0.0.1:{ports[name][0]}"
    keys_file = None if anonymous else work / "api-keys"
    api_key = add_key(keys_file, LOCAL_TENANT) if keys_file else ""
    base.update({"FITTINGROOM_API_KEYS_FILE": str(keys_file), "FITTINGROOM_API_KEY": api_key} if keys_file
                else {"FITTINGROOM_ALLOW_ANONYMOUS": "true"})
    pki = write_local_pki(work / "tls", (*SERVICES, TLS_CLIENT)) if tls else {}
    base.update({"FITTINGROOM_TLS_CA": str(pki[TLS_CLIENT].ca)} if tls else {"FITTINGROOM_TLS_PLAINTEXT": "true"})
    (work / "model-refs").mkdir(parents=True, exist_ok=True)
    stack = Stack(env=base, api_keys_file=keys_file, api_key=api_key, tls=pki, model_refs_dir=work / "model-refs")
    for name in services:
        env = dict(service_env(base, name),
                   FITTINGROOM_GRPC_PORT=str(ports[name][0]), FITTINGROOM_METRICS_PORT=str(ports[name][1]),
                   **(pki[name].env() if tls else {}), **service_kafka_env(infra_env, name))
        stack.services[name] = ServiceProcess(name, ports[name][0], ports[name][1], env, work / f"{name}.log")
    return stack
