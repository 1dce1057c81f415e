"""Blob I/O that every stage adapter shares: images by reference, masks and tensors inline or by reference.

Tensors go through :mod:`fittingroom.tensors` (the one codec): at most
``inline_max_bytes`` inline in the message, larger ones to object storage.

Storage failures are sorted here: a missing object is the caller's fault
(``BadRequestError``); an unreachable store, after the store's own retries, is a
``TransientError`` the worker retries again before failing the request.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np

from fittingroom.errors import BadRequestError, ImageTooLargeError, ObjectTooLargeError
from fittingroom.garments import Garment, category_name
from fittingroom.images import DEFAULT_MAX_BYTES, decode_image, encode_image
from fittingroom.errors import ObjectNotFoundError, StorageUnavailableError, TransientError
from fittingroom.storage import ObjectStore
from fittingroom.tensors import get_object, get_tensor, has_object, has_tensor, put_object, put_tensor, request_key
from fittingroom.v1 import common_pb2


@contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Map object-store failures to request errors (missing) or transient ones."""
    try:
        yield
    except ObjectNotFoundError as exc:
        raise BadRequestError(f"{what}: object {exc.args[0]} does not exist") from None
    except (StorageUnavailableError, ConnectionError, TimeoutError) as exc:
        raise TransientError(f"{what}: object store unavailable: {exc}") from exc


def load_image(store: ObjectStore, ref: common_pb2.ObjectRef, what: str, **limits: int) -> np.ndarray:
    """Fetch and decode a stored photo (bad bytes raise BadImageError).

    A photo over the byte limit is refused from its stored size, before download,
    with the same ``image_too_large`` error as one sent inline.
    """
    if not has_object(ref):
        raise BadRequestError(f"{what} is missing")
    max_bytes = limits.get("max_bytes", DEFAULT_MAX_BYTES)
    with storage_errors(what):
        try:
            data = get_object(store, ref, max_bytes=max_bytes)
        except ObjectTooLargeError as exc:
            raise ImageTooLargeError(f"{what}: {exc.message}") from None
    return decode_image(data, name=what, **limits)


def save_png(store: ObjectStore, request_id: str, stage: str, name: str, image: np.ndarray) -> common_pb2.ObjectRef:
    with storage_errors(name):
        return put_object(store, request_key(request_id, stage, name), encode_image(image), "image/png")


def save_array(store: ObjectStore, key: str, array: np.ndarray, inline_max_bytes: int) -> common_pb2.TensorRef:
    """The array's reference: inline up to ``inline_max_bytes``, else stored at ``key``."""
    with storage_errors(key):
        return put_tensor(store, key, array, inline_max_bytes)


def load_array(store: ObjectStore, ref: common_pb2.TensorRef, what: str) -> np.ndarray:
    """The array a reference carries inline or points to (``BadRequestError`` when there is none)."""
    if not has_tensor(ref):
        raise BadRequestError(f"{what} is missing")
    with storage_errors(what):
        return get_tensor(store, ref)


def garment_to_ref(store: ObjectStore, mask_key: str, garment: Garment, inline_max_bytes: int) -> common_pb2.GarmentRef:
    """Describe a garment, its mask bit-packed along rows (eight pixels a byte), inline or stored."""
    mask = save_array(store, mask_key, np.packbits(garment.mask, axis=1), inline_max_bytes)
    x1, y1, x2, y2 = garment.box
    return common_pb2.GarmentRef(
        mask=mask,
        box=common_pb2.Box(x1=x1, y1=y1, x2=x2, y2=y2),
        category=garment.category,
        category_name=category_name(garment.category),
        score=garment.score,
    )


def garment_from_ref(store: ObjectStore, ref: common_pb2.GarmentRef, width: int, what: str) -> Garment:
    """Rebuild a garment from its reference; ``width`` unpacks the mask's bits."""
    packed = load_array(store, ref.mask, what)
    mask = np.unpackbits(packed, axis=1, count=width).astype(bool)
    box = (ref.box.x1, ref.box.y1, ref.box.x2, ref.box.y2)
    return Garment(mask=mask, box=box, category=ref.category, score=ref.score)
