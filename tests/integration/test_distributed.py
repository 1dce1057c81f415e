"""The distributed system end to end: real Kafka, MinIO and five service processes."""

from __future__ import annotations

import io
import json
import time
import uuid
from pathlib import Path

import grpc
import numpy as np
import pytest
from kafka import KafkaConsumer

from conftest import wait_final
from fittingroom.bus import client_config, make_producer, publish
from fittingroom.images import decode_image
from fittingroom.registry import ModelRegistry
from fittingroom.settings import Settings
from fittingroom.storage import LocalFolderStore
from fittingroom.cli.client import ApiKeyInterceptor
from fittingroom.cli.localstack import LOCAL_TENANT
from fittingroom.tensors import (DEFAULT_GRPC_INLINE_MAX_BYTES, DEFAULT_INLINE_MAX_BYTES, get_object, get_tensor,
                                 public_request_id, put_object, put_tensor, request_key, tenant_prefix,
                                 tenant_request_id)
from fittingroom.v1 import common_pb2, events_pb2, tryon_pb2, tryon_pb2_grpc
from fittingroom.images import SAMPLES_DIR


@pytest.fixture(scope="module")
def client(stack):
    channel = grpc.insecure_channel(stack.gateway)
    yield tryon_pb2_grpc.TryOnServiceStub(grpc.intercept_channel(channel, ApiKeyInterceptor(stack.api_key)))
    channel.close()


@pytest.fixture(scope="module")
def requests_store(minio_config):
    return minio_config.store(minio_config.requests_bucket)


def _pair() -> tuple[bytes, bytes]:
    return (SAMPLES_DIR / "person.jpg").read_bytes(), (SAMPLES_DIR / "style.jpg").read_bytes()


def _completed_counts(bootstrap: str, ids: set[str], timeout_s: float = 20) -> dict[str, int]:
    """How many tryon.completed messages each of ``ids`` has on the topic."""
    consumer = KafkaConsumer("tryon.completed", **client_config(bootstrap, "test-check"), group_id=f"check-{uuid.uuid4().hex}",
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=3000)
    counts = {i: 0 for i in ids}
    deadline = time.monotonic() + timeout_s
    for message in consumer:
        event = events_pb2.TryOnEvent.FromString(message.value)
        if public_request_id(event.request_id) in counts:
            counts[public_request_id(event.request_id)] += 1
        if time.monotonic() > deadline:
            break
    consumer.close()
    return counts


def _real_photo_pair() -> tuple[bytes, bytes]:
    """A real shopper photo from the development set (scikit-image's astronaut) and the sample product."""
    import skimage

    return (Path(skimage.__file__).parent / "data" / "astronaut.png").read_bytes(), _pair()[1]


@pytest.fixture(scope="module")
def embedded(stack):
    """The embedded pipeline on the stack's models."""
    from fittingroom.cli.pipeline import TryOnPipeline

    settings = Settings.from_env({}, device="cpu", store_dir=Path(stack.env["FITTINGROOM_STORE_DIR"]))
    return TryOnPipeline(ModelRegistry.with_starter_models(LocalFolderStore(settings.store_dir)), settings)


@pytest.mark.parametrize("pair", [_pair, _real_photo_pair], ids=["synthetic", "real-photo"])
def test_grpc_tryon_matches_embedded_pipeline(client, requests_store, embedded, pair):
    person, style = pair()
    reply = client.TryOn(tryon_pb2.TryOnRequest(person_image=person, style_image=style, return_image=True), timeout=120)
    local = embedded.run(decode_image(person), decode_image(style))
    expected = local.image
    assert np.array_equal(decode_image(reply.image), expected)
    assert np.array_equal(decode_image(get_object(requests_store, reply.result)), expected)
    # The same model versions made both, and the result's manifest beside it says which.
    served = [{"kind": m.kind, "name": m.name, "version": m.version, "sha256": m.sha256} for m in reply.models]
    assert [m["kind"] for m in served] == ["segmentation", "style", "translation"]
    assert served == local.manifest["models"]
    assert json.loads(get_object(requests_store, reply.result_manifest))["models"] == served
    assert [t.stage for t in reply.timings][:4] == ["segmentation", "style", "translation", "compositing"]
    assert reply.style.translation_key
    assert reply.exact_colour and len(reply.style.product_lab) == 3


def _stored(requests_store, public_id: str) -> list[str]:
    prefix = f"{tenant_prefix(LOCAL_TENANT)}{public_id}/"
    return [key.removeprefix(prefix) for key in requests_store.list(prefix)]


def test_on_grpc_only_the_result_reaches_minio_and_on_kafka_photos_and_crops_do_too(client, requests_store):
    person, style = _pair()
    by_grpc = client.TryOn(tryon_pb2.TryOnRequest(person_image=person, style_image=style), timeout=120).request_id
    by_kafka = client.Submit(tryon_pb2.TryOnRequest(person_image=person, style_image=style), timeout=30).request_id
    assert wait_final(client, by_kafka).stage == events_pb2.COMPLETED
    # The gRPC chain carries photos, masks and crops inside its calls (under FITTINGROOM_GRPC_INLINE_MAX_BYTES).
    assert _stored(requests_store, by_grpc) == ["compositing/result.json", "compositing/result.png"]
    # Events carry only masks (under FITTINGROOM_INLINE_MAX_BYTES); photos and the 192 KiB crops are claim checks.
    assert _stored(requests_store, by_kafka) == [
        "compositing/result.json", "compositing/result.png", "input/person_image", "input/style_image",
        "segmentation/translation_input.npy", "translation/translated.npy"]


def test_a_photo_over_the_grpc_threshold_goes_through_minio_to_the_same_image(client, requests_store, embedded):
    """Inline and claim-check payloads in one call: the large person photo is stored, the product rides inline."""
    import skimage
    from PIL import Image

    astronaut = Image.fromarray(skimage.data.astronaut()).resize((1100, 1100))
    buffer = io.BytesIO()
    astronaut.save(buffer, format="PNG", compress_level=0)
    person, style = buffer.getvalue(), _pair()[1]
    assert len(person) > DEFAULT_GRPC_INLINE_MAX_BYTES >= len(style)
    reply = client.TryOn(tryon_pb2.TryOnRequest(person_image=person, style_image=style, return_image=True), timeout=120)
    assert _stored(requests_store, reply.request_id) == [
        "compositing/result.json", "compositing/result.png", "input/person_image"]
    assert np.array_equal(decode_image(reply.image), embedded.run(decode_image(person), decode_image(style)).image)


def test_a_tensor_over_the_threshold_is_a_minio_object_and_one_under_it_is_not(requests_store):
    request_id = tenant_request_id(LOCAL_TENANT, f"claim-{uuid.uuid4().hex[:8]}")
    small, large = np.ones((16, 16), np.uint8), np.arange(256 * 256 * 3, dtype=np.uint32).reshape(256, 256, 3)
    small_ref = put_tensor(requests_store, request_key(request_id, "test", "small.npy"), small, DEFAULT_INLINE_MAX_BYTES)
    large_ref = put_tensor(requests_store, request_key(request_id, "test", "large.npy"), large, DEFAULT_INLINE_MAX_BYTES)
    assert requests_store.list(f"{tenant_prefix(LOCAL_TENANT)}{public_request_id(request_id)}/") == [large_ref.key]
    assert large_ref.key.endswith("large.npy") and not small_ref.key and len(small_ref.inline) == small.nbytes
    assert np.array_equal(get_tensor(requests_store, small_ref), small)
    assert np.array_equal(get_tensor(requests_store, large_ref), large)


def test_corrupt_image_is_invalid_argument_over_grpc(client):
    person, _ = _pair()
    with pytest.raises(grpc.RpcError) as info:
        client.TryOn(tryon_pb2.TryOnRequest(person_image=person[:300], style_image=b"not an image"), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "image" in info.value.details()


def test_a_truncated_photo_with_a_sound_header_is_invalid_argument_from_the_first_stage(client):
    """On TryOn the gateway checks a photo's header only; the segmentation stage's decode names the damage."""
    person, style = _pair()
    with pytest.raises(grpc.RpcError) as info:
        client.TryOn(tryon_pb2.TryOnRequest(person_image=person[: len(person) // 2], style_image=style), timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "person image is corrupt or truncated" in info.value.details()


def test_submitted_requests_complete_exactly_once_and_watch_streams_stages(client, requests_store, kafka_bootstrap):
    person, style = _pair()
    ids = [client.Submit(tryon_pb2.TryOnRequest(person_image=person, style_image=style), timeout=30).request_id
           for _ in range(30)]
    stages = [s.stage for s in client.Watch(tryon_pb2.GetRequest(request_id=ids[0]), timeout=180)]
    assert stages == [events_pb2.SUBMITTED, events_pb2.SEGMENTED, events_pb2.STYLED,
                      events_pb2.TRANSLATED, events_pb2.COMPLETED]
    for request_id in ids:
        status = wait_final(client, request_id)
        assert status.stage == events_pb2.COMPLETED, status.error.message
        assert requests_store.exists(status.result.key)
    assert set(_completed_counts(kafka_bootstrap, set(ids)).values()) == {1}


def _raw_event(store, public_id: str, person: bytes, style: bytes) -> bytes:
    """What a shop publishing straight to Kafka sends: photos under its prefix, its tenant in the id and event."""
    request_id = tenant_request_id(LOCAL_TENANT, public_id)
    event = events_pb2.TryOnEvent(request_id=request_id, tenant=LOCAL_TENANT, stage=events_pb2.SUBMITTED, attempt=1)
    event.created.GetCurrentTime()
    event.person_image.CopyFrom(put_object(store, request_key(request_id, "input", "person_image"), person, "image/jpeg"))
    event.style_image.CopyFrom(put_object(store, request_key(request_id, "input", "style_image"), style, "image/jpeg"))
    return event.SerializeToString()


def test_bad_events_fail_or_dead_letter_and_the_stream_flows(client, requests_store, kafka_bootstrap):
    person, style = _pair()
    producer = make_producer(kafka_bootstrap, client_id="test-bad-events")
    good = [f"good-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    corrupt = f"corrupt-{uuid.uuid4().hex[:8]}"
    garbage_key = f"garbage-{uuid.uuid4().hex[:8]}"
    publish(producer, "tryon.requests", tenant_request_id(LOCAL_TENANT, good[0]),
            _raw_event(requests_store, good[0], person, style))
    publish(producer, "tryon.requests", garbage_key, b"\xff\x00 this is not protobuf \x13\x37")
    publish(producer, "tryon.requests", tenant_request_id(LOCAL_TENANT, corrupt),
            _raw_event(requests_store, corrupt, b"\x89PNG garbage", style))
    for request_id in good[1:]:
        publish(producer, "tryon.requests", tenant_request_id(LOCAL_TENANT, request_id),
                _raw_event(requests_store, request_id, person, style))
    producer.close()
    for request_id in good:
        assert wait_final(client, request_id).stage == events_pb2.COMPLETED
    failed = wait_final(client, corrupt)
    assert failed.stage == events_pb2.FAILED
    assert failed.error.code == common_pb2.BAD_IMAGE and failed.error.stage == "segmentation"
    dlq = KafkaConsumer("tryon.dlq", **client_config(kafka_bootstrap, "test-dlq"), group_id=f"dlq-{uuid.uuid4().hex}",
                        auto_offset_reset="earliest", consumer_timeout_ms=5000)
    dead = [m for m in dlq if m.key and m.key.decode() == garbage_key]
    dlq.close()
    assert len(dead) == 1
    assert dead[0].value == b"\xff\x00 this is not protobuf \x13\x37"
    assert dict(dead[0].headers)["reason"]


def test_oversize_photo_is_resource_exhausted(client):
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    person, _ = _pair()
    with pytest.raises(grpc.RpcError) as info:
        client.TryOn(tryon_pb2.TryOnRequest(person_image=person, style_image=bomb), timeout=30)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert dict(info.value.trailing_metadata())["fittingroom-error-code"] == "image_too_large"
