"""Tensor codec: arrays ↔ TensorRefs, inline when small, else in object storage (claim check).

An array of at most ``inline_max_bytes`` (``FITTINGROOM_INLINE_MAX_BYTES``) travels
inside its reference, as its raw C-order bytes: no object-store round trip, no
header to parse, no hash (gRPC and Kafka checksum what they carry). A larger one
is stored in numpy's ``.npy`` format (no pickling allowed on load) and its
reference carries bucket, key and sha256 so a reader can check what it got.
Either way the reference carries dtype and shape. Object keys derive from the
request id and stage, so re-processing a message overwrites the same objects
(idempotent); an inline tensor has no object and no key.

References can come from outside (a Kafka publisher, a caller's ``person_ref``), so
reads trust nothing they point at: the stored size is checked against a cap before
any byte is downloaded, and a tensor's ``.npy`` header must announce exactly the
dtype, shape and C order of its reference before its payload is turned into an array.
"""

from __future__ import annotations

import hashlib
import io
import math
from typing import TYPE_CHECKING

import numpy as np

from fittingroom.errors import BadRequestError, BlobIntegrityError, ObjectTooLargeError
from fittingroom.images import DEFAULT_MAX_PIXELS
from fittingroom.storage import ObjectStore
from fittingroom.v1 import common_pb2, events_pb2

if TYPE_CHECKING:
    from google.protobuf.descriptor import Descriptor

# Largest tensor payload read by reference. The largest the stages write is a
# packed garment mask of a maximum-size photo (DEFAULT_MAX_PIXELS / 8 bytes, 5 MB);
# the 256×256×3 translator crops are under 1 MB. 64 MiB leaves room and bounds what
# a forged reference can make a service allocate.
DEFAULT_MAX_TENSOR_BYTES = 64 * 1024 * 1024
# Largest opaque object (an encoded photo or result) read by reference: a PNG of
# the largest allowed RGBA photo stored without compression, plus room for its chunks.
DEFAULT_MAX_OBJECT_BYTES = 4 * DEFAULT_MAX_PIXELS + 1024 * 1024
# Largest .npy header (magic, length and the dict describing the array). np.save
# pads it to 128 bytes for the few dimensions we store.
NPY_MAX_HEADER_BYTES = 4096


def _refs(message: "Descriptor", kinds: tuple["Descriptor", ...]) -> int:
    """How many fields of the ``kinds`` a message holds, its nested messages' included."""
    return sum(1 if field.message_type in kinds else _refs(field.message_type, kinds)
               for field in message.fields if field.message_type is not None)


# The largest record Kafka takes as provisioned (the broker's message.max.bytes and
# kafka-python's max_request_size, both left at their 1 MiB defaults).
KAFKA_MAX_MESSAGE_BYTES = 1024 * 1024
# The event envelope without its inline tensors (ids, refs, labels, timings) stays far below this.
EVENT_HEADROOM_BYTES = 16 * 1024
# Tensors an event can carry inline at once (both garment masks, the crop, its translation, the fabric).
EVENT_TENSOR_REFS = _refs(events_pb2.TryOnEvent.DESCRIPTOR, (common_pb2.TensorRef.DESCRIPTOR,))
# Payloads a gRPC stage call can carry inline at once: the tensors plus the photos (and results) by reference.
EVENT_INLINE_REFS = _refs(events_pb2.TryOnEvent.DESCRIPTOR, (common_pb2.TensorRef.DESCRIPTOR, common_pb2.ObjectRef.DESCRIPTOR))
# The largest inline threshold with which an event carrying every tensor inline still fits one Kafka record.
INLINE_MAX_BYTES_LIMIT = (KAFKA_MAX_MESSAGE_BYTES - EVENT_HEADROOM_BYTES) // EVENT_TENSOR_REFS
# Default threshold: packed masks of photos up to about half a megapixel (and small
# fabric squares) travel inline; the 256×256×3 translator crops (192 KiB) go to object
# storage, because a Kafka hop with kafka-python costs more per inline byte than the
# object-store round trips it saves (README, Benchmarks: 200 KiB vs 64 KiB measured).
DEFAULT_INLINE_MAX_BYTES = 64 * 1024
# On the gateway's gRPC chain (TryOn) nothing is kept between calls, so photos and crops
# travel inside the calls too: a 3 MiB photo covers most shop photos, and a call carrying
# every payload inline stays under the default 32 MiB gRPC message.
DEFAULT_GRPC_INLINE_MAX_BYTES = 3 * 1024 * 1024


def grpc_inline_max_bytes_limit(grpc_max_message_bytes: int) -> int:
    """The largest gRPC inline threshold with which a call carrying every payload inline fits one message."""
    return max(0, (grpc_max_message_bytes - EVENT_HEADROOM_BYTES) // EVENT_INLINE_REFS)


# The folder of a request where the gateway stores the shop's photos.
INPUT_FOLDER = "input"


def request_key(request_id: str, stage: str, name: str) -> str:
    """``requests/<request id>/<stage>/<name>``: the one place keys are made.

    A tenant's request id is ``<tenant>/<id>``, so its objects share the prefix
    ``requests/<tenant>/``; each part must be a plain path segment.
    """
    parts = request_id.split("/")
    if len(parts) > 2 or any(part in ("", ".", "..") for part in parts):
        raise BadRequestError(f"invalid request id {request_id!r}")
    return f"requests/{request_id}/{stage}/{name}"


def style_cache_key(digest: str, models: str, name: str) -> str:
    """``cache/style/<digest>/<models>/<name>``: per-product work shared by every request with the same product photo.

    Addressed by content (the photo's sha256) and by the model versions that made it
    (``models``, a :func:`~fittingroom.serving.stage_base.models_tag`), so it is the same
    object whichever tenant sent the product, rewriting it writes the same bytes, and a
    new model version writes beside it instead of over objects that requests in flight
    still point to.
    """
    return f"cache/style/{digest}/{models}/{name}"


def tenant_prefix(tenant: str) -> str:
    """``requests/<tenant>/``: where every object of the tenant's requests lives."""
    return f"requests/{tenant}/"


def tenant_request_id(tenant: str, request_id: str) -> str:
    """The id a tenant's request is stored and published under: ``<tenant>/<id>``."""
    return f"{tenant}/{request_id}"


def public_request_id(stored: str) -> str:
    """The id the tenant knows: a stored id without its tenant."""
    return stored.partition("/")[2] or stored


def travels_inline(payload_bytes: int, inline_max_bytes: int) -> bool:
    """Whether a payload of this size rides inside its reference under ``inline_max_bytes`` (0: never)."""
    return 0 < inline_max_bytes and payload_bytes <= inline_max_bytes


def encode_array(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def put_tensor(store: ObjectStore, key: str, array: np.ndarray, inline_max_bytes: int = 0) -> common_pb2.TensorRef:
    """The array's reference: inline up to ``inline_max_bytes`` of payload (0: never), else written at ``key``."""
    array = np.ascontiguousarray(array)
    if travels_inline(array.nbytes, inline_max_bytes):
        return common_pb2.TensorRef(dtype=str(array.dtype), shape=list(array.shape), inline=array.tobytes())
    data = encode_array(array)
    store.put(key, data)
    return common_pb2.TensorRef(
        bucket=store.bucket, key=key, dtype=str(array.dtype), shape=list(array.shape),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def is_inline(ref: common_pb2.TensorRef) -> bool:
    """Whether the tensor travels inside its reference (no object behind it)."""
    return ref.HasField("inline")


def has_tensor(ref: common_pb2.TensorRef) -> bool:
    """Whether the reference names a tensor at all: inline, or a key in object storage."""
    return is_inline(ref) or bool(ref.key)


def tensor_present(store: ObjectStore, ref: common_pb2.TensorRef) -> bool:
    """Whether the tensor can still be read: always when inline, else when its object exists (it may have expired)."""
    return is_inline(ref) or store.exists(ref.key)


def _name(ref: common_pb2.TensorRef) -> str:
    """What error messages call the tensor: its key, or ``inline tensor``."""
    return ref.key or "inline tensor"


def _tensor_layout(ref: common_pb2.TensorRef, max_bytes: int) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, shape, payload bytes) a tensor reference promises, refused when unusable or over the cap."""
    name = _name(ref)
    try:
        dtype = np.dtype(ref.dtype)
    except (TypeError, ValueError):
        raise BadRequestError(f"{name}: tensor dtype {ref.dtype!r} is not a numpy dtype") from None
    if not ref.dtype or dtype.hasobject or dtype.itemsize == 0:
        raise BadRequestError(f"{name}: tensor dtype {ref.dtype!r} is not allowed (plain numbers only)")
    shape = tuple(int(n) for n in ref.shape)
    if any(n < 0 for n in shape):
        raise BadRequestError(f"{name}: tensor shape {list(shape)} has a negative dimension")
    count = math.prod(shape)
    if count > max_bytes or count * dtype.itemsize > max_bytes:
        raise ObjectTooLargeError(
            f"{name}: tensor {ref.dtype}{list(shape)} is over the {max_bytes}-byte read limit")
    return dtype, shape, count * dtype.itemsize


def _npy_payload(key: str, data: bytes, dtype: np.dtype, shape: tuple[int, ...]) -> memoryview:
    """The payload of ``.npy`` bytes whose header announces exactly ``dtype``, ``shape``, C order.

    The header is parsed with numpy's own reader (size-capped), never ``np.load``, so
    no pickle is ever unpickled and nothing is allocated from what the header claims.
    """
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(stream, max_header_size=NPY_MAX_HEADER_BYTES)
        elif version == (2, 0):
            header = np.lib.format.read_array_header_2_0(stream, max_header_size=NPY_MAX_HEADER_BYTES)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, SyntaxError, EOFError) as exc:
        raise BlobIntegrityError(f"{key}: not a readable .npy array: {exc}") from None
    stored_shape, fortran_order, stored_dtype = header
    if stored_dtype.hasobject:
        raise BlobIntegrityError(f"{key}: stored array holds Python objects (pickled); refused")
    if stored_dtype != dtype or tuple(stored_shape) != shape or fortran_order:
        order = "Fortran" if fortran_order else "C"
        raise BlobIntegrityError(
            f"{key}: stored {stored_dtype}{list(stored_shape)} ({order} order), "
            f"reference says {dtype}{list(shape)} (C order)")
    payload = memoryview(data)[stream.tell():]
    if len(payload) != math.prod(shape) * dtype.itemsize:
        raise BlobIntegrityError(
            f"{key}: payload is {len(payload)} bytes, {dtype}{list(shape)} needs {math.prod(shape) * dtype.itemsize}")
    return payload


def _fetch_capped(store: ObjectStore, key: str, max_bytes: int) -> bytes:
    """The object's bytes, refused from its stored size before download when over ``max_bytes``."""
    stored = store.size(key)
    if stored > max_bytes:
        raise ObjectTooLargeError(f"{key}: object is {stored} bytes, over the {max_bytes}-byte read limit")
    data = store.get(key)
    if len(data) > max_bytes:
        raise ObjectTooLargeError(f"{key}: object grew to {len(data)} bytes while read, over {max_bytes}")
    return data


def _inline_array(ref: common_pb2.TensorRef, dtype: np.dtype, shape: tuple[int, ...], payload_bytes: int) -> np.ndarray:
    """The array an inline reference carries; ``BadRequestError`` when its bytes do not fit its dtype × shape."""
    if ref.key or ref.bucket:
        raise BadRequestError(f"{ref.key or ref.bucket}: a tensor reference is inline or stored, not both")
    if len(ref.inline) != payload_bytes:
        raise BadRequestError(f"inline tensor: {len(ref.inline)} bytes, {dtype}{list(shape)} needs {payload_bytes}")
    return np.frombuffer(ref.inline, dtype=dtype).reshape(shape).copy()


def get_tensor(store: ObjectStore, ref: common_pb2.TensorRef,
               max_bytes: int = DEFAULT_MAX_TENSOR_BYTES) -> np.ndarray:
    """Read an array and check it against its reference, within ``max_bytes`` of payload.

    Order of checks: the reference itself (a plain dtype, within the cap); for an
    inline tensor, its length against dtype × shape (a mismatch is the message's
    fault: ``BadRequestError``); for a stored one, the stored size (before
    download), the sha256, then the ``.npy`` header against the reference (before
    the payload becomes an array).
    """
    dtype, shape, payload_bytes = _tensor_layout(ref, max_bytes)
    if is_inline(ref):
        return _inline_array(ref, dtype, shape, payload_bytes)
    data = _fetch_capped(store, ref.key, payload_bytes + NPY_MAX_HEADER_BYTES)
    if ref.sha256 and hashlib.sha256(data).hexdigest() != ref.sha256:
        raise BlobIntegrityError(f"{ref.key}: sha256 mismatch")
    payload = _npy_payload(ref.key, data, dtype, shape)
    return np.frombuffer(payload, dtype=dtype).reshape(shape).copy()


def put_object(store: ObjectStore, key: str, data: bytes, content_type: str,
               inline_max_bytes: int = 0) -> common_pb2.ObjectRef:
    """Opaque bytes (an encoded image) and their reference: inline up to ``inline_max_bytes`` (0: never), else
    written at ``key``. Either way the reference states their size and sha256 (the product cache's key)."""
    ref = common_pb2.ObjectRef(content_type=content_type, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    if travels_inline(len(data), inline_max_bytes):
        ref.inline = data
    else:
        store.put(key, data)
        ref.bucket, ref.key = store.bucket, key
    return ref


def has_object(ref: common_pb2.ObjectRef) -> bool:
    """Whether the reference names an object at all: inline, or a key in object storage."""
    return ref.HasField("inline") or bool(ref.key)


def get_object(store: ObjectStore, ref: common_pb2.ObjectRef,
               max_bytes: int = DEFAULT_MAX_OBJECT_BYTES) -> bytes:
    """Read opaque bytes of at most ``max_bytes``, refused before download when larger.

    The size the reference states and the stored size are both checked against the
    cap before download; after it, that size and the sha256, when the reference has
    them. Inline bytes are checked the same way, so a reference's sha256 always names
    what it carries.
    """
    name = ref.key or "inline object"
    if ref.size > max_bytes:
        raise ObjectTooLargeError(f"{name}: reference says {ref.size} bytes, over the {max_bytes}-byte read limit")
    if ref.HasField("inline"):
        if ref.key or ref.bucket:
            raise BadRequestError(f"{ref.key or ref.bucket}: an object reference is inline or stored, not both")
        data = ref.inline
        if len(data) > max_bytes:
            raise ObjectTooLargeError(f"{name}: {len(data)} bytes, over the {max_bytes}-byte read limit")
    else:
        data = _fetch_capped(store, ref.key, max_bytes)
    if ref.size and len(data) != ref.size:
        raise BlobIntegrityError(f"{name}: {len(data)} bytes, reference says {ref.size}")
    if ref.sha256 and hashlib.sha256(data).hexdigest() != ref.sha256:
        raise BlobIntegrityError(f"{name}: sha256 mismatch")
    return data
