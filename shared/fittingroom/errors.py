"""Every typed error of the project, and the machine-readable codes callers see.

Stages, stores, the bus and settings raise these; the edges (CLI, gRPC handlers,
Kafka workers) only map them: to an exit status (``fittingroom.cli.errors``), a
gRPC status or a ``tryon.failed`` event (``fittingroom.serving.errors``). No
transport library is imported here.

Three families:

- **Caller errors** (:class:`FittingroomError` subclasses with a code): a bad
  image, no garment, an unknown style… the request must change to succeed.
- **Infrastructure errors**: object storage or Kafka refused (``StorageError``,
  ``BusError``) or stayed unreachable (``*UnavailableError``), a dependency is down
  for now (:class:`TransientError`), a called stage failed (:class:`UpstreamError`).
- **Local errors**: a setting that cannot be used, a retry deadline passed, a
  missing object key.
"""

from __future__ import annotations

from enum import Enum


class ErrorCode(str, Enum):
    """Machine-readable failure codes shared by every transport."""

    BAD_IMAGE = "bad_image"
    IMAGE_TOO_LARGE = "image_too_large"
    NO_GARMENT = "no_garment"
    UNKNOWN_STYLE = "unknown_style"
    MODEL_NOT_FOUND = "model_not_found"
    MODEL_INTEGRITY = "model_integrity"
    BAD_REQUEST = "bad_request"
    INTERNAL = "internal"
    NOT_FOUND = "not_found"
    OVERLOADED = "overloaded"
    UNAUTHENTICATED = "unauthenticated"


class FittingroomError(Exception):
    """Base class: every error a caller can act on carries a code and a message."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}"


class BadImageError(FittingroomError):
    """The bytes are not a usable image (corrupt, truncated, empty, too small)."""

    code = ErrorCode.BAD_IMAGE


class ImageTooLargeError(FittingroomError):
    """The image exceeds the pixel or byte limit (decompression-bomb guard)."""

    code = ErrorCode.IMAGE_TOO_LARGE


class NoGarmentError(FittingroomError):
    """Segmentation found no garment above the score threshold."""

    code = ErrorCode.NO_GARMENT


class UnknownStyleError(FittingroomError):
    """The product's style class has no translation weights."""

    code = ErrorCode.UNKNOWN_STYLE

    def __init__(self, style_key: str, available: list[str]) -> None:
        listing = ", ".join(sorted(available)) or "none"
        super().__init__(
            f"no translation weights for style class '{style_key}'; "
            f"available classes: {listing}"
        )
        self.style_key = style_key
        self.available = sorted(available)


class ModelNotFoundError(FittingroomError):
    """The registry has no model under the requested kind/name/version."""

    code = ErrorCode.MODEL_NOT_FOUND


class ModelIntegrityError(FittingroomError):
    """A weights file does not match the sha256 recorded in its manifest."""

    code = ErrorCode.MODEL_INTEGRITY


class BadRequestError(FittingroomError):
    """A request is malformed in a way that is not about an image."""

    code = ErrorCode.BAD_REQUEST


class ObjectTooLargeError(BadRequestError):
    """An object or tensor read by reference is over the read cap; refused before it is downloaded."""


class RequestNotFoundError(FittingroomError):
    """No request with this id is known to the caller (never submitted, not seen yet, or someone else's)."""

    code = ErrorCode.NOT_FOUND


class UnauthenticatedError(FittingroomError):
    """The caller sent no API key, or one that is unknown or revoked."""

    code = ErrorCode.UNAUTHENTICATED


class OverloadedError(FittingroomError):
    """A limit on concurrent or per-second calls was reached; the caller may retry after ``retry_after_ms``."""

    code = ErrorCode.OVERLOADED

    def __init__(self, message: str, retry_after_ms: int) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class BlobIntegrityError(FittingroomError):
    """A stored blob does not match the dtype, shape or sha256 in its reference."""

    code = ErrorCode.INTERNAL


class TransientError(FittingroomError):
    """A dependency (object store, broker, downstream stage) is unavailable for now."""

    code = ErrorCode.INTERNAL


class UpstreamError(FittingroomError):
    """A stage the gateway called answered with an error; its status passes through.

    ``status`` is the gRPC status *name* (``"NOT_FOUND"``), so this module needs no
    transport library; ``fittingroom.serving.errors`` maps it back.
    """

    def __init__(self, status: str, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ClientError(FittingroomError):
    """The gateway answered a client (``fittingroom client …``) with an error status."""


class HandlerCrash(FittingroomError):
    """A stage's handler raised on this event alone (not a typed failure), or it killed the worker process."""

    code = ErrorCode.INTERNAL


class DependencyDown(Exception):
    """Kafka or object storage is unreachable: a worker pauses instead of failing requests."""

    def __init__(self, dependency: str, cause: BaseException) -> None:
        super().__init__(f"{dependency} unreachable: {cause}")
        self.dependency = dependency


class StorageError(FittingroomError):
    """Object storage refused a request for a reason retrying cannot fix."""


class StorageUnavailableError(StorageError):
    """Object storage stayed unreachable or failing until the retry deadline."""


class BusError(FittingroomError):
    """Kafka refused an operation for a reason retrying cannot fix."""


class BusUnavailableError(BusError):
    """Kafka stayed unreachable or failing until the retry deadline."""


class ObjectNotFoundError(KeyError):
    """No object under the requested key (a ``KeyError``, as for a mapping)."""


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used."""


class MissingCredentialsError(SettingsError):
    """Object storage is configured without the keys to reach it (caught at start, not at a request)."""


class MonitoringError(Exception):
    """The local Prometheus (or promtool, or the tools to build them) failed, or a query to it did."""


class RetryError(Exception):
    """Raised by ``retry_call`` when the deadline passes; wraps the last error."""

    def __init__(self, attempts: int, elapsed_s: float, last: BaseException) -> None:
        super().__init__(f"gave up after {attempts} attempts in {elapsed_s:.1f}s: {last!r}")
        self.attempts = attempts
        self.elapsed_s = elapsed_s
        self.last = last
