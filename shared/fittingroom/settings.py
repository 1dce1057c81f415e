"""One settings object, read from ``FITTINGROOM_*`` environment variables.

Every knob a process reads lives here, with its default and its documentation,
so the README table and the Helm values name the same things. A bad value is
reported with the variable's name at start-up, not deep inside a stage.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from fittingroom.chain import SERVICES, stage
from fittingroom.errors import MissingCredentialsError, SettingsError
from fittingroom.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from fittingroom.kafka_auth import KafkaSecurity, read_password
from fittingroom.tensors import (DEFAULT_GRPC_INLINE_MAX_BYTES, DEFAULT_INLINE_MAX_BYTES, EVENT_INLINE_REFS,
                                 INLINE_MAX_BYTES_LIMIT, grpc_inline_max_bytes_limit)

PREFIX = "FITTINGROOM_"
_DEFAULT_PORTS = ", ".join(f"{s.name} {s.grpc_port}" for s in SERVICES)
# The vocabularies a setting (and the per-request option of the same name) accepts.
GARMENT_POLICIES = ("match", "largest")  # or a DeepFashion2 category name
GARMENT_POLICIES_HELP = "'match' (the garment worn where the product goes), 'largest' or a DeepFashion2 category name"
STYLE_FALLBACKS = ("none", "nearest")
# Model inference precisions (fittingroom.precision): fp32, bf16 autocast, or auto
# (bf16 where the hardware runs it natively, else fp32).
PRECISIONS = ("auto", "fp32", "bf16")
STYLE_FALLBACKS_HELP = "'none' (an unknown style is an error) or 'nearest' (use the nearest trained class)"



def _default_store_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "fittingroom" / "store"


@dataclass(frozen=True)
class Settings:
    """Runtime configuration; field ``x_y`` is read from ``FITTINGROOM_X_Y``."""

    store_dir: Path = field(default_factory=_default_store_dir, metadata={"help": "local object store folder (embedded mode, model registry)"})
    device: str = field(default="auto", metadata={"help": "torch device: auto, cpu, cuda, cuda:N"})
    segmentation_model: str = field(default="maskrcnn-mobilenet", metadata={"help": "registry name[:version] of the Mask R-CNN"})
    style_model: str = field(default="stylenet", metadata={"help": "registry name[:version] of the style classifier"})
    segmentation_precision: str = field(default="fp32", metadata={"help": "Mask R-CNN inference: fp32, bf16 (autocast; 1.1x faster on an AVX-512 BF16 CPU, but mask IoU to fp32 only 0.97) or auto"})
    translation_precision: str = field(default="auto", metadata={"help": "generator inference: auto (bf16 autocast where the CPU or GPU runs bf16 natively, else fp32; 1.5x faster on an AVX-512 BF16 CPU at result PSNR 69 dB to fp32), bf16 or fp32"})
    translation_model: str = field(default="*", metadata={"help": "registry name[:version] of the per-class CycleGAN generators; the name '*' stands for each style class (e.g. '*:v2')"})
    model_refs_dir: str = field(default="", metadata={"help": "folder (the chart's mounted 'models' ConfigMap) of files named segmentation_model, style_model and translation_model, each holding a model reference that overrides the setting of that name; re-read while serving"})
    model_poll_s: float = field(default=30.0, metadata={"help": "model services check this often which registry versions their model references name (a changed FITTINGROOM_MODEL_REFS_DIR file, or a newer version of a reference without one) and switch to them while serving, loading them beside the old ones; 0: never"})
    torch_threads: int = field(default=0, metadata={"help": "torch intra-op CPU threads, also the pose model's (0 = torch's default: one per core the process may run on, blind to a container's CPU limit); set it to the cores the service may use"})
    torch_interop_threads: int = field(default=0, metadata={"help": "torch inter-op threads (0 = torch's default, one per core); the models run their ops one after another, so 1 is enough"})
    opencv_threads: int = field(default=0, metadata={"help": "OpenCV threads for resizes, colour conversions and k-means (0 = OpenCV's default, one per core)"})
    grpc_workers: int = field(default=16, metadata={"help": "threads serving unary gRPC calls (health checks and Watch streams have pools of their own): the calls a service runs at once"})
    garment_policy: str = field(default="match", metadata={"help": f"which person garment to replace: {GARMENT_POLICIES_HELP}"})
    body_prior: bool = field(default=True, metadata={"help": "clip the shopper's garment to the person and its body region with the pose model, and fall back to a body-region garment when Mask R-CNN finds none"})
    score_threshold: float = field(default=0.3, metadata={"help": "minimum Mask R-CNN score for a garment"})
    style_fallback: str = field(default="none", metadata={"help": STYLE_FALLBACKS_HELP})
    exact_colour: bool = field(default=True, metadata={"help": "after translation, move the garment to the product's measured colour (CIELAB), keeping its folds and shading"})
    exact_pattern: bool = field(default=True, metadata={"help": "for patterned products, tile the product's own fabric over the garment, shaded by the translated garment's folds"})
    feather_px: float = field(default=0.0, metadata={"help": "soften the garment's inner edge by this many pixels"})
    max_image_pixels: int = field(default=DEFAULT_MAX_PIXELS, metadata={"help": "reject images with more pixels (decompression-bomb guard)"})
    max_image_bytes: int = field(default=DEFAULT_MAX_BYTES, metadata={"help": "reject encoded images larger than this"})
    style_cache_size: int = field(default=256, metadata={"help": "product images whose style work is cached (by content hash)"})
    inline_max_bytes: int = field(default=DEFAULT_INLINE_MAX_BYTES, metadata={"help": f"Kafka events: tensors (masks, crops) of at most this many bytes travel inside the event; larger ones go to object storage and the message carries a reference; 0: all go to object storage; at most {INLINE_MAX_BYTES_LIMIT}, so an event carrying every tensor inline fits one Kafka record"})
    grpc_inline_max_bytes: int = field(default=DEFAULT_GRPC_INLINE_MAX_BYTES, metadata={"help": "the gateway's gRPC chain (TryOn): photos and tensors of at most this many bytes travel inside the stage calls, larger ones through object storage; 0: all go to object storage; at most (FITTINGROOM_GRPC_MAX_MESSAGE_BYTES - 16 KiB) / " + str(EVENT_INLINE_REFS) + ", so a call carrying every payload inline fits one message"})
    kafka_bootstrap: str = field(default="127.0.0.1:9092", metadata={"help": "Kafka bootstrap servers (host:port[,host:port])"})
    kafka_group_prefix: str = field(default="fittingroom", metadata={"help": "consumer groups are <prefix>-<service>"})
    kafka_security_protocol: str = field(default="SASL_SSL", metadata={"help": "how Kafka clients reach the brokers: SASL_SSL (TLS + SCRAM user), SSL (TLS, mutual with FITTINGROOM_KAFKA_CERT/KEY) or PLAINTEXT (logs a warning; only when set explicitly)"})
    kafka_sasl_mechanism: str = field(default="SCRAM-SHA-512", metadata={"help": "SASL mechanism with SASL_SSL: SCRAM-SHA-512 or SCRAM-SHA-256"})
    kafka_username: str = field(default="", metadata={"help": "SCRAM username (the service's Kafka principal; ACLs are granted to it)"})
    kafka_password: str = field(default="", metadata={"help": "SCRAM password (from a Secret in Kubernetes); or FITTINGROOM_KAFKA_PASSWORD_FILE"})
    kafka_password_file: str = field(default="", metadata={"help": "file whose first line is the SCRAM password (a mounted Secret)"})
    kafka_ca: str = field(default="", metadata={"help": "PEM CA that signed the brokers' certificates; empty: the system's roots"})
    kafka_cert: str = field(default="", metadata={"help": "PEM client certificate for mutual TLS to the brokers (its CN is the principal)"})
    kafka_key: str = field(default="", metadata={"help": "PEM private key of FITTINGROOM_KAFKA_CERT"})
    s3_endpoint: str = field(default="", metadata={"help": "MinIO/S3 host:port; empty means the local store folder"})
    s3_access_key: str = field(default="", metadata={"help": "MinIO/S3 access key (from a Secret in Kubernetes); required with FITTINGROOM_S3_ENDPOINT"})
    s3_secret_key: str = field(default="", metadata={"help": "MinIO/S3 secret key (from a Secret in Kubernetes); required with FITTINGROOM_S3_ENDPOINT"})
    s3_secure: bool = field(default=False, metadata={"help": "use TLS to reach MinIO/S3"})
    requests_bucket: str = field(default="fittingroom-requests", metadata={"help": "bucket for request photos, tensors and results"})
    models_bucket: str = field(default="fittingroom-models", metadata={"help": "bucket holding the model registry"})
    grpc_port: int = field(default=0, metadata={"help": "gRPC port; 0 means the service's default (" + _DEFAULT_PORTS + ")"})
    metrics_port: int = field(default=0, metadata={"help": "Prometheus /metrics port; 0 means gRPC port + 1000"})
    grpc_max_message_bytes: int = field(default=32 * 1024 * 1024, metadata={"help": "largest gRPC message accepted or sent"})
    grpc_max_streams: int = field(default=256, metadata={"help": "server streams (Watch) a service holds open at once, on threads of their own apart from unary calls and health checks; more are refused with RESOURCE_EXHAUSTED"})
    worker_max_batch: int = field(default=8, metadata={"help": "Kafka worker batch: at most this many messages"})
    worker_max_wait_ms: int = field(default=500, metadata={"help": "Kafka consumers (stage workers, the gateway's status projector and ingress relay): an idle poll waits at most this long for a first record (it returns as soon as one arrives, so this adds no latency); bounds how often an idle loop turns, each turn costing CPU (at 50 ms an idle stack's eight loops took about a sixth of a core) and how long a stop waits for the current poll"})
    worker_linger_ms: int = field(default=0, metadata={"help": "Kafka consumers: once a batch holds a record, wait at most this long for more (0: take what has already arrived; under load, batches fill from what queued during the previous one)"})
    loop_stall_s: float = field(default=600.0, metadata={"help": "a background loop (Kafka worker, status projector, ingress relay, status view) that goes this long without a turn is stuck in some call: the service logs its stack and exits to be restarted; 0 = not watched"})
    kafka_stall_check_s: float = field(default=60.0, metadata={"help": "an idle consumer checks this often whether committed records wait for it; waiting at the same offsets on two checks, its client is stuck and replaced"})
    status_catch_up_s: float = field(default=30.0, metadata={"help": "gateway start: read tryon.status up to its end for at most this long before serving"})
    kafka_transactions: bool = field(default=True, metadata={"help": "stage workers publish a batch's outputs and commit its input offsets in one Kafka transaction (consumers read committed): each output once, even after a SIGKILL"})
    max_attempts: int = field(default=3, metadata={"help": "a Kafka record whose handling took the worker process down this many times goes to tryon.dlq and tryon.failed"})
    request_deadline_s: float = field(default=600.0, metadata={"help": "a request whose dependency (object storage) stays down fails only after this long from its creation; until then workers pause and retry"})
    drain_seconds: float = field(default=10.0, metadata={"help": "graceful shutdown: finish in-flight work for this long after SIGTERM"})
    segmentation_address: str = field(default=stage("segmentation").local_address, metadata={"help": "gateway → segmentation service"})
    style_address: str = field(default=stage("style").local_address, metadata={"help": "gateway → style service"})
    translation_address: str = field(default=stage("translation").local_address, metadata={"help": "gateway → translation service"})
    compositing_address: str = field(default=stage("compositing").local_address, metadata={"help": "gateway → compositing service"})
    api_keys_file: str = field(default="", metadata={"help": "gateway: file of shop API keys, one 'tenant:sha256-of-key' line each (fittingroom keys add/revoke); re-read when it changes. Empty: the gateway refuses to start unless FITTINGROOM_ALLOW_ANONYMOUS"})
    allow_anonymous: bool = field(default=False, metadata={"help": "gateway without API keys: serve every caller as tenant 'public' (logs a warning); for local trials only"})
    api_key: str = field(default="", metadata={"help": "the API key fittingroom client and bench distributed send as 'authorization: Bearer <key>'"})
    tenant_rate_per_s: float = field(default=50.0, metadata={"help": "gateway: calls per second each tenant may make (token bucket); more get RESOURCE_EXHAUSTED with a retry-after-ms trailer"})
    tenant_burst: int = field(default=200, metadata={"help": "gateway: calls a tenant may make at once above its rate (the bucket's size)"})
    tenant_max_in_flight: int = field(default=256, metadata={"help": "gateway: a tenant's requests not yet final (TryOn calls running plus submitted requests); more get RESOURCE_EXHAUSTED"})
    tenant_max_streams: int = field(default=64, metadata={"help": "gateway: Watch streams a tenant may hold open; more get RESOURCE_EXHAUSTED"})
    tls_cert: str = field(default="", metadata={"help": "PEM certificate this service presents: on its gRPC server and, for the gateway, to the stage services (mutual TLS)"})
    tls_key: str = field(default="", metadata={"help": "PEM private key of FITTINGROOM_TLS_CERT"})
    tls_ca: str = field(default="", metadata={"help": "PEM CA that signed the services' certificates: stage servers require client certificates it signed, the gateway and clients verify servers with it"})
    tls_plaintext: bool = field(default=False, metadata={"help": "serve gRPC without TLS (logs a warning); a service with neither the TLS files nor this refuses to start"})
    health_port: int = field(default=0, metadata={"help": "also serve the standard health service alone, in plaintext, on this port (the kubelet's gRPC probes cannot speak TLS); 0: no such port"})
    grpc_reflection: bool = field(default=False, metadata={"help": "gRPC server reflection (lets any caller list the API); off unless enabled"})
    enable_grpc: bool = field(default=True, metadata={"help": "run the service's gRPC server"})
    enable_worker: bool = field(default=True, metadata={"help": "run the service's Kafka worker"})
    log_level: str = field(default="INFO", metadata={"help": "logging level of the JSON logs"})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Settings from the environment, then explicit overrides (e.g. CLI flags)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = PREFIX + f.name.upper()
            if name in environ:
                values[f.name] = _parse(name, environ[name], f.type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def image_limits(self) -> dict[str, int]:
        """The decode limits every door applies to an uploaded image (``read_image``'s keywords)."""
        return {"max_pixels": self.max_image_pixels, "max_bytes": self.max_image_bytes}

    def s3_credentials(self) -> tuple[str, str]:
        """(access key, secret key) for the MinIO/S3 endpoint; both must be set.

        An empty key would make the client anonymous and every request fail with
        AccessDenied, so a process missing one refuses to start instead.
        """
        missing = [PREFIX + name.upper() for name in ("s3_access_key", "s3_secret_key") if not getattr(self, name)]
        if missing:
            raise MissingCredentialsError(
                f"{PREFIX}S3_ENDPOINT={self.s3_endpoint!r} needs {' and '.join(missing)} "
                "(object storage credentials; unset the endpoint to use the local store folder)"
            )
        return self.s3_access_key, self.s3_secret_key

    def kafka_security(self) -> KafkaSecurity:
        """The security every Kafka client of this process uses; SettingsError when incomplete.

        Checked when a process first needs Kafka (a service's start), not for the
        embedded mode, which never talks to a broker.
        """
        password = self.kafka_password
        if not password and self.kafka_password_file:
            password = read_password(self.kafka_password_file)
        security = KafkaSecurity(self.kafka_security_protocol, self.kafka_sasl_mechanism, self.kafka_username,
                                 password, self.kafka_ca, self.kafka_cert, self.kafka_key)
        security.validate()
        return security

    @property
    def tls_files(self) -> tuple[str, str, str] | None:
        """(cert, key, CA) paths when TLS is configured, else ``None``."""
        return (self.tls_cert, self.tls_key, self.tls_ca) if self.tls_cert else None

    def require_transport(self) -> None:
        """A server needs TLS files, or plaintext asked for explicitly: SettingsError otherwise."""
        if self.tls_files is None and not self.tls_plaintext:
            raise SettingsError(f"no TLS: set {PREFIX}TLS_CERT, {PREFIX}TLS_KEY and {PREFIX}TLS_CA, "
                                f"or {PREFIX}TLS_PLAINTEXT=true to serve gRPC in plaintext")

    def validate(self) -> None:
        """Check cross-field rules; raises SettingsError naming the variable."""
        from fittingroom.garments import CATEGORIES

        if self.s3_endpoint:
            self.s3_credentials()
        self._validate_tls()

        if self.garment_policy not in GARMENT_POLICIES and self.garment_policy not in CATEGORIES:
            raise SettingsError(f"{PREFIX}GARMENT_POLICY={self.garment_policy!r}: expected {GARMENT_POLICIES_HELP}")
        for name in ("segmentation_precision", "translation_precision"):
            if getattr(self, name) not in PRECISIONS:
                raise SettingsError(f"{PREFIX}{name.upper()}={getattr(self, name)!r}: expected one of {', '.join(PRECISIONS)}")
        if self.style_fallback not in STYLE_FALLBACKS:
            raise SettingsError(f"{PREFIX}STYLE_FALLBACK={self.style_fallback!r}: expected {STYLE_FALLBACKS_HELP}")
        if not self.translation_model.startswith("*"):
            raise SettingsError(f"{PREFIX}TRANSLATION_MODEL={self.translation_model!r}: expected '*' or '*:<version>' "
                                "(the generators are registered under their style class)")
        if not 0.0 <= self.score_threshold <= 1.0:
            raise SettingsError(f"{PREFIX}SCORE_THRESHOLD={self.score_threshold}: expected 0..1")
        if self.max_attempts < 1:
            raise SettingsError(f"{PREFIX}MAX_ATTEMPTS={self.max_attempts}: expected at least 1")
        if self.tenant_rate_per_s <= 0 or min(self.tenant_burst, self.tenant_max_in_flight, self.tenant_max_streams) < 1:
            raise SettingsError(f"{PREFIX}TENANT_RATE_PER_S, _BURST, _MAX_IN_FLIGHT and _MAX_STREAMS must be positive")
        if self.kafka_stall_check_s <= 0:
            raise SettingsError(f"{PREFIX}KAFKA_STALL_CHECK_S={self.kafka_stall_check_s}: expected a positive number")
        for name in ("grpc_max_streams", "grpc_workers"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{PREFIX}{name.upper()}={getattr(self, name)}: expected at least 1")
        if not 0 <= self.inline_max_bytes <= INLINE_MAX_BYTES_LIMIT:
            raise SettingsError(f"{PREFIX}INLINE_MAX_BYTES={self.inline_max_bytes}: expected 0..{INLINE_MAX_BYTES_LIMIT} "
                                "(an event carrying every tensor inline must fit one Kafka record)")
        grpc_limit = grpc_inline_max_bytes_limit(self.grpc_max_message_bytes)
        if not 0 <= self.grpc_inline_max_bytes <= grpc_limit:
            raise SettingsError(f"{PREFIX}GRPC_INLINE_MAX_BYTES={self.grpc_inline_max_bytes}: expected 0..{grpc_limit} "
                                f"(a call carrying every payload inline must fit {PREFIX}GRPC_MAX_MESSAGE_BYTES)")
        for name in ("max_image_pixels", "max_image_bytes", "style_cache_size", "worker_max_wait_ms", "worker_linger_ms",
                     "torch_threads", "torch_interop_threads", "opencv_threads", "loop_stall_s", "model_poll_s"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{PREFIX}{name.upper()} must not be negative")

    def _validate_tls(self) -> None:
        """Certificate and key come together and with the CA; a CA alone is a client's (it verifies servers)."""
        if bool(self.tls_cert) != bool(self.tls_key) or (self.tls_cert and not self.tls_ca):
            raise SettingsError(f"TLS needs {PREFIX}TLS_CERT, {PREFIX}TLS_KEY and {PREFIX}TLS_CA together "
                                f"(a client may set {PREFIX}TLS_CA alone)")
        if self.tls_cert and self.tls_plaintext:
            raise SettingsError(f"{PREFIX}TLS_PLAINTEXT=true contradicts {PREFIX}TLS_CERT; set one or the other")

    @staticmethod
    def documentation() -> list[tuple[str, str, str]]:
        """(variable, default, help) rows for the README."""
        rows = []
        for f in dataclasses.fields(Settings):
            default = f.default if f.default is not dataclasses.MISSING else "~/.local/share/fittingroom/store"
            rows.append((PREFIX + f.name.upper(), str(default), f.metadata.get("help", "")))
        return rows


def _parse(name: str, raw: str, kind: Any) -> Any:
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("1", "true", "yes")
        if kind == "Path":
            return Path(raw).expanduser()
        return raw
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a valid {kind}") from None
