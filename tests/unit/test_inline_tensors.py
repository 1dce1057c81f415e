"""The claim check: tensors and photos up to the path's inline threshold travel in their reference, larger ones in the store."""

from __future__ import annotations

import numpy as np
import pytest

from fittingroom.errors import BadRequestError, BlobIntegrityError, ObjectTooLargeError, SettingsError
from fittingroom.garments import Garment
from fittingroom.serving.blobs import garment_from_ref, garment_to_ref, load_array
from fittingroom.serving.unary import GrpcDoor
from fittingroom.settings import Settings
from fittingroom.storage import MemoryStore
from fittingroom.tensors import (
    DEFAULT_GRPC_INLINE_MAX_BYTES, DEFAULT_INLINE_MAX_BYTES, EVENT_HEADROOM_BYTES, INLINE_MAX_BYTES_LIMIT,
    KAFKA_MAX_MESSAGE_BYTES, get_object, get_tensor, grpc_inline_max_bytes_limit, has_object, is_inline, put_object,
    put_tensor, tensor_present,
)
from fittingroom.v1 import common_pb2, events_pb2

KEY = "requests/t/r1/segmentation/tensor.npy"


@pytest.fixture()
def store():
    return MemoryStore("requests")


def test_a_tensor_at_the_threshold_is_inline_and_makes_no_object(store):
    array = np.arange(64, dtype=np.float32).reshape(4, 16)
    ref = put_tensor(store, KEY, array, inline_max_bytes=array.nbytes)
    assert is_inline(ref) and not ref.key and not ref.bucket and not ref.sha256
    assert ref.dtype == "float32" and list(ref.shape) == [4, 16]
    assert store.list() == []
    read = get_tensor(store, ref)
    assert read.dtype == array.dtype and np.array_equal(read, array)
    read[0, 0] = -1  # the array read is the reader's own, not a view of the message
    assert get_tensor(store, ref)[0, 0] == 0


def test_a_tensor_one_byte_over_the_threshold_is_stored(store):
    array = np.zeros(65, np.uint8)
    ref = put_tensor(store, KEY, array, inline_max_bytes=64)
    assert not is_inline(ref) and ref.key == KEY and ref.sha256
    assert store.list() == [KEY]
    assert np.array_equal(get_tensor(store, ref), array)


def test_threshold_zero_stores_every_tensor(store):
    ref = put_tensor(store, KEY, np.zeros(1, np.uint8), inline_max_bytes=0)
    assert not is_inline(ref) and store.list() == [KEY]


def test_an_inline_tensor_is_always_present_and_a_stored_one_while_its_object_is(store):
    inline = put_tensor(store, KEY, np.zeros(4, np.uint8), inline_max_bytes=64)
    stored = put_tensor(store, KEY, np.zeros(4, np.uint8), inline_max_bytes=0)
    assert tensor_present(store, inline) and tensor_present(store, stored)
    store.delete_prefix("requests/")
    assert tensor_present(store, inline) and not tensor_present(store, stored)


@pytest.mark.parametrize("size", [(3, 5), (17, 31), (1, 1), (480, 640)])
def test_a_mask_round_trips_bit_packed_inline(store, size):
    rng = np.random.default_rng(sum(size))
    mask = rng.random(size) < 0.4
    garment = Garment(mask=mask, box=(0, 0, size[1], size[0]), category=1, score=0.9)
    ref = garment_to_ref(store, KEY, garment, DEFAULT_INLINE_MAX_BYTES)
    assert is_inline(ref.mask) and list(ref.mask.shape) == [size[0], -(-size[1] // 8)]
    assert len(ref.mask.inline) == size[0] * -(-size[1] // 8)  # eight pixels a byte
    back = garment_from_ref(store, ref, size[1], "mask")
    assert back.mask.dtype == bool and np.array_equal(back.mask, mask)
    assert store.list() == []


@pytest.mark.parametrize("payload", [b"", b"\x00" * 15, b"\x00" * 17])
def test_an_inline_payload_that_does_not_fit_its_shape_is_a_bad_request(store, payload):
    ref = common_pb2.TensorRef(dtype="uint8", shape=[4, 4], inline=payload)
    with pytest.raises(BadRequestError, match="inline tensor: .* needs 16"):
        get_tensor(store, ref)


def test_an_inline_reference_that_also_names_an_object_is_a_bad_request(store):
    put_tensor(store, KEY, np.zeros(4, np.uint8), inline_max_bytes=0)
    ref = common_pb2.TensorRef(key=KEY, dtype="uint8", shape=[4], inline=b"\x01" * 4)
    with pytest.raises(BadRequestError, match="inline or stored, not both"):
        get_tensor(store, ref)


def test_an_inline_tensor_over_the_read_cap_is_refused(store):
    ref = common_pb2.TensorRef(dtype="uint8", shape=[1024], inline=b"\x00" * 1024)
    with pytest.raises(ObjectTooLargeError, match="over the 512-byte read limit"):
        get_tensor(store, ref, max_bytes=512)


def test_an_inline_tensor_with_an_object_dtype_is_refused(store):
    ref = common_pb2.TensorRef(dtype="object", shape=[1], inline=b"\x00" * 8)
    with pytest.raises(BadRequestError, match="plain numbers only"):
        get_tensor(store, ref)


def test_missing_tensor_is_a_bad_request_but_an_empty_inline_one_is_read(store):
    with pytest.raises(BadRequestError, match="translation input is missing"):
        load_array(store, common_pb2.TensorRef(), "translation input")
    empty = put_tensor(store, KEY, np.zeros((0, 3), np.uint8), inline_max_bytes=64)
    assert load_array(store, empty, "empty").shape == (0, 3)


def test_an_event_with_every_tensor_inline_at_the_limit_fits_one_kafka_record():
    payload = b"\xff" * INLINE_MAX_BYTES_LIMIT
    tensor = dict(dtype="uint8", shape=[INLINE_MAX_BYTES_LIMIT], inline=payload)
    event = events_pb2.TryOnEvent(
        request_id="shop/" + "r" * 128, person_garment=dict(mask=tensor), style_garment=dict(mask=tensor),
        translation_input=tensor, translated=tensor, style=dict(product_fabric=tensor, product_lab=[50, 1, 2]),
    )
    for stage in ("segmentation", "style", "translation", "compositing"):
        event.timings.add(stage=stage, milliseconds=1.0)
    assert len(event.SerializeToString()) <= KAFKA_MAX_MESSAGE_BYTES - EVENT_HEADROOM_BYTES + 1024
    assert len(event.SerializeToString()) < KAFKA_MAX_MESSAGE_BYTES


def test_the_threshold_setting_is_bounded_by_what_kafka_carries():
    assert Settings().inline_max_bytes == DEFAULT_INLINE_MAX_BYTES <= INLINE_MAX_BYTES_LIMIT
    assert Settings.from_env({"FITTINGROOM_INLINE_MAX_BYTES": "0"}).inline_max_bytes == 0
    with pytest.raises(SettingsError, match="FITTINGROOM_INLINE_MAX_BYTES"):
        Settings.from_env({"FITTINGROOM_INLINE_MAX_BYTES": str(INLINE_MAX_BYTES_LIMIT + 1)})
    with pytest.raises(SettingsError, match="FITTINGROOM_INLINE_MAX_BYTES"):
        Settings.from_env({"FITTINGROOM_INLINE_MAX_BYTES": "-1"})


def test_a_photo_under_the_threshold_rides_in_its_reference_with_its_size_and_sha256(store):
    photo = b"\x89PNG photo bytes"
    inline = put_object(store, "requests/t/r1/input/person_image", photo, "image/png", inline_max_bytes=len(photo))
    stored = put_object(store, "requests/t/r1/input/style_image", photo, "image/png", inline_max_bytes=len(photo) - 1)
    assert store.list("requests/") == [stored.key]
    assert not inline.key and not inline.bucket and inline.inline == photo
    assert (inline.size, inline.sha256) == (stored.size, stored.sha256)  # the product cache's key either way
    assert get_object(store, inline) == get_object(store, stored) == photo
    assert has_object(inline) and has_object(stored) and not has_object(common_pb2.ObjectRef())


def test_an_inline_photo_is_checked_like_a_stored_one(store):
    inline = put_object(store, KEY, b"photo", "image/png", inline_max_bytes=64)
    with pytest.raises(ObjectTooLargeError, match="inline object"):
        get_object(store, inline, max_bytes=4)
    forged = common_pb2.ObjectRef()
    forged.CopyFrom(inline)
    forged.inline = b"other"
    with pytest.raises(BlobIntegrityError, match="sha256"):
        get_object(store, forged)
    forged.CopyFrom(inline)
    forged.key = KEY
    with pytest.raises(BadRequestError, match="inline or stored, not both"):
        get_object(store, forged)


def test_a_grpc_call_with_every_payload_inline_at_the_limit_fits_one_message():
    limit = grpc_inline_max_bytes_limit(Settings().grpc_max_message_bytes)
    assert Settings().grpc_inline_max_bytes == DEFAULT_GRPC_INLINE_MAX_BYTES <= limit
    tensor = dict(dtype="uint8", shape=[limit], inline=b"\xff" * limit)
    photo = dict(content_type="image/png", size=limit, sha256="0" * 64, inline=b"\xff" * limit)
    event = events_pb2.TryOnEvent(
        request_id="shop/" + "r" * 128, person_image=photo, style_image=photo, result=photo, result_manifest=photo,
        person_garment=dict(mask=tensor), style_garment=dict(mask=tensor), translation_input=tensor,
        translated=tensor, style=dict(product_fabric=tensor, product_lab=[50, 1, 2]),
    )
    assert len(event.SerializeToString()) < Settings().grpc_max_message_bytes
    with pytest.raises(SettingsError, match="FITTINGROOM_GRPC_INLINE_MAX_BYTES"):
        Settings.from_env({"FITTINGROOM_GRPC_INLINE_MAX_BYTES": str(limit + 1)})


class _Recording:
    """A stage that records the threshold each batch was handled with."""

    def __init__(self) -> None:
        self.limits: list[int | None] = []

    def handle_batch(self, events, inline_max_bytes=None):
        self.limits.append(inline_max_bytes)
        return list(events)


def test_the_grpc_door_hands_its_threshold_and_the_worker_leaves_the_stage_its_own():
    stage = _Recording()
    GrpcDoor(stage, 3 << 20).handle_batch([events_pb2.TryOnEvent(request_id="r")])
    stage.handle_batch([events_pb2.TryOnEvent(request_id="r")])  # as the Kafka worker calls it
    assert stage.limits == [3 << 20, None]
