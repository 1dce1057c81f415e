"""The one place typed errors become gRPC statuses and failed-event codes."""

from __future__ import annotations

import grpc

from fittingroom.errors import ErrorCode, FittingroomError, OverloadedError, TransientError, UpstreamError
from fittingroom.v1 import common_pb2

ERROR_CODE_METADATA = "fittingroom-error-code"
RETRY_AFTER_METADATA = "retry-after-ms"

GRPC_STATUS: dict[ErrorCode, grpc.StatusCode] = {
    ErrorCode.BAD_IMAGE: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.IMAGE_TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.NO_GARMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.UNKNOWN_STYLE: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.BAD_REQUEST: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.MODEL_NOT_FOUND: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.MODEL_INTEGRITY: grpc.StatusCode.INTERNAL,
    ErrorCode.INTERNAL: grpc.StatusCode.INTERNAL,
    ErrorCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.OVERLOADED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
}


def grpc_status(exc: BaseException) -> tuple[grpc.StatusCode, str, ErrorCode]:
    """Status code, message and error code for any exception a handler raised."""
    if isinstance(exc, UpstreamError):
        return grpc.StatusCode[exc.status], exc.message, exc.code
    if isinstance(exc, TransientError):
        return grpc.StatusCode.UNAVAILABLE, exc.message, exc.code
    if isinstance(exc, FittingroomError):
        return GRPC_STATUS[exc.code], exc.message, exc.code
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}", ErrorCode.INTERNAL


def trailing_metadata(exc: BaseException, code: ErrorCode) -> tuple[tuple[str, str], ...]:
    """Trailers of a failed call: the error code, and when to retry an overloaded call."""
    trailers = ((ERROR_CODE_METADATA, code.value),)
    if isinstance(exc, OverloadedError):
        trailers += ((RETRY_AFTER_METADATA, str(exc.retry_after_ms)),)
    return trailers


def from_rpc_error(exc: grpc.RpcError, stage: str) -> FittingroomError:
    """The typed error behind a failed call to another service."""
    status = exc.code()
    metadata = dict(exc.trailing_metadata() or ())
    raw = metadata.get(ERROR_CODE_METADATA, "")
    code = ErrorCode(raw) if raw in ErrorCode._value2member_map_ else ErrorCode.INTERNAL
    message = f"{stage}: {exc.details()}"
    if status in (grpc.StatusCode.UNAVAILABLE,) and not raw:
        return TransientError(message)
    return UpstreamError(status.name, code, message)


def error_message(exc: BaseException, stage: str) -> common_pb2.Error:
    """The ``Error`` a ``tryon.failed`` event carries."""
    code = exc.code if isinstance(exc, FittingroomError) else ErrorCode.INTERNAL
    message = exc.message if isinstance(exc, FittingroomError) else f"internal error: {type(exc).__name__}: {exc}"
    return common_pb2.Error(code=common_pb2.ErrorCode.Value(code.name), message=message, stage=stage)


def error_code_name(error: common_pb2.Error) -> str:
    """Lower-case code name (``bad_image``) of a proto error, for metrics and logs."""
    return common_pb2.ErrorCode.Name(error.code).lower()

