"""Tensor codec: arrays ↔ bytes in object storage, described by a TensorRef.

Arrays are stored in numpy's ``.npy`` format (no pickling allowed on load); the
reference carries dtype, shape and sha256 so a reader can check what it got.
Object keys derive from the request id and stage, so re-processing a message
overwrites the same objects (idempotent).
"""

from __future__ import annotations

import hashlib
import io

import numpy as np

from fittingroom.errors import BadRequestError, BlobIntegrityError
from fittingroom.storage import ObjectStore
from fittingroom.v1 import common_pb2



def request_key(request_id: str, stage: str, name: str) -> str:
    """``requests/<request id>/<stage>/<name>``: the one place keys are made."""
    if not request_id or "/" in request_id or request_id in (".", ".."):
        raise BadRequestError(f"invalid request id {request_id!r}")
    return f"requests/{request_id}/{stage}/{name}"


def encode_array(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def decode_array(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def put_tensor(store: ObjectStore, key: str, array: np.ndarray) -> common_pb2.TensorRef:
    """Write an array and return its reference."""
    data = encode_array(array)
    store.put(key, data)
    return common_pb2.TensorRef(
        bucket=store.bucket, key=key, dtype=str(array.dtype), shape=list(array.shape),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def get_tensor(store: ObjectStore, ref: common_pb2.TensorRef) -> np.ndarray:
    """Read an array and check it against its reference."""
    data = store.get(ref.key)
    if ref.sha256 and hashlib.sha256(data).hexdigest() != ref.sha256:
        raise BlobIntegrityError(f"{ref.key}: sha256 mismatch")
    array = decode_array(data)
    if str(array.dtype) != ref.dtype or list(array.shape) != list(ref.shape):
        raise BlobIntegrityError(
            f"{ref.key}: stored {array.dtype}{list(array.shape)}, reference says {ref.dtype}{list(ref.shape)}"
        )
    return array


def put_object(store: ObjectStore, key: str, data: bytes, content_type: str) -> common_pb2.ObjectRef:
    """Write opaque bytes (an encoded image) and return their reference."""
    store.put(key, data)
    return common_pb2.ObjectRef(
        bucket=store.bucket, key=key, content_type=content_type, size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def get_object(store: ObjectStore, ref: common_pb2.ObjectRef) -> bytes:
    """Read opaque bytes and check their sha256 when the reference has one."""
    data = store.get(ref.key)
    if ref.sha256 and hashlib.sha256(data).hexdigest() != ref.sha256:
        raise BlobIntegrityError(f"{ref.key}: sha256 mismatch")
    return data
