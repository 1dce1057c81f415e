"""Typed errors raised inside stages, and their machine-readable codes.

Stages raise these; the edges (CLI, gRPC handlers, Kafka workers) map the code to
an exit status, a gRPC status or a ``tryon.failed`` event in one place each.
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
