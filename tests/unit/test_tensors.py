"""Reads by reference trust nothing the reference points at: size caps before download,
the .npy header checked against the reference before its payload becomes an array."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest

from fittingroom.errors import (
    BadRequestError, BlobIntegrityError, ImageTooLargeError, ObjectNotFoundError, ObjectTooLargeError,
)
from fittingroom.images import encode_image
from fittingroom.serving.blobs import load_image
from fittingroom.storage import LocalFolderStore, MemoryStore
from fittingroom.tensors import NPY_MAX_HEADER_BYTES, get_object, get_tensor, put_object, put_tensor
from fittingroom.v1 import common_pb2

KEY = "requests/r1/segmentation/tensor.npy"


class CountingStore(MemoryStore):
    """A memory store that counts downloads, to show a refusal came before one."""

    def __init__(self) -> None:
        super().__init__("counting")
        self.downloads = 0

    def get(self, key: str) -> bytes:
        self.downloads += 1
        return super().get(key)


def _npy(array: np.ndarray, **save) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, **save)
    return buffer.getvalue()


def _ref(dtype: str, shape: tuple[int, ...], data: bytes | None = None) -> common_pb2.TensorRef:
    return common_pb2.TensorRef(bucket="counting", key=KEY, dtype=dtype, shape=list(shape),
                                sha256=hashlib.sha256(data).hexdigest() if data is not None else "")


@pytest.fixture(params=["memory", "folder"])
def store(request, tmp_path: Path):
    return MemoryStore() if request.param == "memory" else LocalFolderStore(tmp_path / "requests")


def test_round_trip_keeps_dtype_shape_and_values(store):
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    got = get_tensor(store, put_tensor(store, KEY, array))
    assert got.dtype == np.float32 and got.shape == (2, 3, 4)
    assert np.array_equal(got, array)
    got[0, 0, 0] = -1  # callers may write to what they read
    assert store.size(KEY) == len(_npy(array))


def test_size_of_a_missing_key_is_not_found(store):
    with pytest.raises(ObjectNotFoundError):
        store.size("requests/none/input/person")


def test_reference_over_the_cap_is_refused_before_any_read():
    store = CountingStore()
    with pytest.raises(ObjectTooLargeError, match="read limit"):
        get_tensor(store, _ref("float32", (100_000, 100_000, 3)))
    with pytest.raises(ObjectTooLargeError):
        get_tensor(store, _ref("uint8", (1024, 1024)), max_bytes=1024 * 1024 - 1)
    assert store.downloads == 0


@pytest.mark.parametrize("dtype", ["object", "O", "", "not-a-dtype", "V0"])
def test_reference_must_name_a_plain_numeric_dtype(dtype):
    with pytest.raises(BadRequestError, match="dtype"):
        get_tensor(CountingStore(), _ref(dtype, (4,)))


def test_stored_object_larger_than_the_reference_is_not_downloaded():
    store = CountingStore()
    store.put(KEY, _npy(np.zeros((4, 4), np.uint8)) + b"\0" * (NPY_MAX_HEADER_BYTES + 1))
    with pytest.raises(ObjectTooLargeError):
        get_tensor(store, _ref("uint8", (4, 4)))
    assert store.downloads == 0


@pytest.mark.parametrize("stored, dtype, shape, says", [
    (np.zeros((2, 2), np.float32), "uint8", (4, 4), "float32"),   # same byte count, other dtype
    (np.zeros((2, 8), np.uint8), "uint8", (4, 4), "[2, 8]"),      # same byte count, other shape
    (np.asfortranarray(np.zeros((4, 3), np.uint8)), "uint8", (4, 3), "Fortran"),
    (np.zeros((4,), ">i4"), "int32", (4,), ">i4"),                # other byte order
])
def test_header_must_match_the_reference(stored, dtype, shape, says):
    store = MemoryStore()
    data = _npy(stored)
    store.put(KEY, data)
    with pytest.raises(BlobIntegrityError, match=says.replace("[", r"\[").replace("]", r"\]")):
        get_tensor(store, _ref(dtype, shape, data))


def test_pickled_object_array_is_refused_unread():
    store = MemoryStore()
    data = _npy(np.array([{"x": 1}, None], dtype=object), allow_pickle=True)
    store.put(KEY, data)
    with pytest.raises(BlobIntegrityError, match="pickled"):
        get_tensor(store, _ref("uint8", (len(data),)))


@pytest.mark.parametrize("damage", ["not npy", "truncated", "padded"])
def test_damaged_npy_is_refused(damage):
    store = MemoryStore()
    good = _npy(np.arange(16, dtype=np.uint8).reshape(4, 4))
    data = {"not npy": b"\x93NUMPX" + good[6:], "truncated": good[:-1], "padded": good + b"\0"}[damage]
    store.put(KEY, data)
    with pytest.raises(BlobIntegrityError):
        get_tensor(store, _ref("uint8", (4, 4)))


def test_sha256_is_checked_before_the_header():
    store = MemoryStore()
    ref = put_tensor(store, KEY, np.ones((3, 3), np.uint8))
    store.put(KEY, _npy(np.zeros((3, 3), np.uint8)))
    with pytest.raises(BlobIntegrityError, match="sha256"):
        get_tensor(store, ref)


def test_object_over_the_cap_is_refused_before_download():
    store = CountingStore()
    ref = put_object(store, "requests/r1/input/person", b"x" * 2048, "image/png")
    with pytest.raises(ObjectTooLargeError, match="2048 bytes"):
        get_object(store, ref, max_bytes=2047)
    unsized = common_pb2.ObjectRef(bucket=ref.bucket, key=ref.key)  # a caller's ref states no size
    with pytest.raises(ObjectTooLargeError, match="2048 bytes"):
        get_object(store, unsized, max_bytes=2047)
    assert store.downloads == 0
    assert get_object(store, ref, max_bytes=2048) == b"x" * 2048
    assert store.downloads == 1


def test_object_whose_size_differs_from_its_reference_is_refused():
    store = MemoryStore()
    ref = put_object(store, "requests/r1/input/person", b"photo", "image/png")
    ref.size, ref.sha256 = 4, ""
    with pytest.raises(BlobIntegrityError, match="reference says 4"):
        get_object(store, ref)


def test_stored_photo_over_the_byte_limit_is_image_too_large_before_download():
    store = CountingStore()
    photo = encode_image(np.zeros((32, 32, 3), np.uint8))
    ref = put_object(store, "requests/r1/input/person", photo, "image/png")
    with pytest.raises(ImageTooLargeError, match="person image"):
        load_image(store, ref, "person image", max_bytes=len(photo) - 1)
    assert store.downloads == 0
    assert load_image(store, ref, "person image", max_bytes=len(photo)).shape == (32, 32, 3)


class _StatOnlyClient:
    """Stands in for the MinIO client: answers HEAD (stat_object) and fails any download."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.sizes = sizes

    def stat_object(self, bucket: str, key: str):
        if key not in self.sizes:
            from minio.error import S3Error
            from urllib3 import HTTPResponse

            raise S3Error(HTTPResponse(status=404), "NoSuchKey", "missing", key, "", "", bucket, key)
        return type("Stat", (), {"size": self.sizes[key]})()

    def get_object(self, bucket: str, key: str):
        raise AssertionError("downloaded")


def test_minio_store_sizes_objects_with_a_head_request():
    from fittingroom.retry import RetryPolicy
    from fittingroom.s3store import MinioStore

    store = MinioStore("127.0.0.1:9", "reader", "s3cr3t-key", "fittingroom-requests", retry=RetryPolicy(deadline_s=0))
    store.client = _StatOnlyClient({"requests/r1/input/person": 5_000_000})
    assert store.size("requests/r1/input/person") == 5_000_000
    with pytest.raises(ObjectNotFoundError):
        store.size("requests/r2/input/person")
    with pytest.raises(ObjectTooLargeError):
        get_object(store, common_pb2.ObjectRef(key="requests/r1/input/person"), max_bytes=4_000_000)
