"""Stage adapters over a local object store: references in, references out, failures per event."""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from fittingroom.compositing.adapter import CompositingStage
from fittingroom.errors import BadRequestError, UnknownStyleError
from fittingroom.garments import Garment
from fittingroom.serving.blobs import garment_to_ref, load_array, load_image, save_array
from fittingroom.serving.stage_base import model_version
from fittingroom.settings import Settings
from fittingroom.storage import LocalFolderStore
from fittingroom.tensors import DEFAULT_INLINE_MAX_BYTES, put_object
from fittingroom.translation.adapter import TranslationStage
from fittingroom.v1 import common_pb2, events_pb2


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _identity_generator() -> nn.Module:
    conv = nn.Conv2d(3, 3, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        conv.bias.zero_()
    return conv.eval()


@pytest.fixture()
def store(tmp_path):
    return LocalFolderStore(tmp_path)


def _composite_event(store, request_id: str, person: np.ndarray, inline_max_bytes: int) -> events_pb2.TryOnEvent:
    mask = np.zeros(person.shape[:2], bool)
    mask[8:40, 10:30] = True
    garment = Garment(mask=mask, box=(10, 8, 30, 40), category=1)
    event = events_pb2.TryOnEvent(request_id=request_id)
    event.person_image.CopyFrom(put_object(store, f"requests/{request_id}/person.png", _png(person), "image/png"))
    event.person_garment.CopyFrom(garment_to_ref(store, f"requests/{request_id}/mask.npy", garment, inline_max_bytes))
    event.translated.CopyFrom(save_array(store, f"requests/{request_id}/translated.npy",
                                         np.full((256, 256, 3), 200, np.uint8), inline_max_bytes))
    return event


def test_compositing_writes_the_result_and_fails_only_the_broken_request(store):
    person = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    good = _composite_event(store, "good", person, DEFAULT_INLINE_MAX_BYTES)  # mask and translation inline
    broken = _composite_event(store, "broken", person, 0)  # both in the store
    broken.translated.key = "requests/broken/missing.npy"
    settings = Settings(exact_colour=False, exact_pattern=False)
    done, failed = CompositingStage(store, settings).handle_batch([good, broken])
    assert isinstance(failed, BadRequestError)
    assert done.stage == events_pb2.COMPLETED and done.timings[-1].stage == "compositing"
    result = load_image(store, done.result, "result")
    mask = np.zeros(person.shape[:2], bool)
    mask[8:40, 10:30] = True
    assert np.array_equal(result[~mask], person[~mask])
    assert np.abs(result[mask].astype(int) - 200).max() <= 2


def test_compositing_writes_a_result_manifest_naming_the_models_that_made_it(store):
    person = np.random.default_rng(1).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    event = _composite_event(store, "shop/r1", person, DEFAULT_INLINE_MAX_BYTES)
    event.tenant = "shop"
    event.models.add(kind="segmentation", name="maskrcnn-mobilenet", version="v3", sha256="a" * 64)
    event.models.add(kind="translation", name="red-solid", version="v2", sha256="b" * 64)
    done = CompositingStage(store, Settings(exact_colour=False, exact_pattern=False)).handle_batch([event])[0]
    assert done.result_manifest.key == "requests/shop/r1/compositing/result.json"
    manifest = json.loads(store.get(done.result_manifest.key))
    assert manifest["models"] == [
        {"kind": "segmentation", "name": "maskrcnn-mobilenet", "version": "v3", "sha256": "a" * 64},
        {"kind": "translation", "name": "red-solid", "version": "v2", "sha256": "b" * 64}]
    assert manifest["result"] == {"key": done.result.key, "sha256": done.result.sha256}
    assert manifest["tenant"] == "shop" and "compositing" in manifest["timings_ms"]


def _translation_event(store, request_id: str, key: str, value: int) -> events_pb2.TryOnEvent:
    event = events_pb2.TryOnEvent(request_id=request_id, style=dict(translation_key=key))
    event.translation_input.CopyFrom(save_array(store, f"requests/{request_id}/in.npy",
                                                np.full((256, 256, 3), value, np.uint8), DEFAULT_INLINE_MAX_BYTES))
    return event


def test_translation_runs_each_generator_once_per_group_and_keeps_failures_in_place(store):
    calls = []

    def generator_for(key):
        calls.append(key)
        if key == "blue-solid":
            raise RuntimeError("blue weights are corrupt")
        return _identity_generator()

    stage = TranslationStage(generator_for, ["red-solid", "blue-solid"], store, device="cpu",
                             inline_max_bytes=DEFAULT_INLINE_MAX_BYTES,
                             models_for=lambda key: [common_pb2.ModelVersion(kind="translation", name=key, version="v7")])
    events = [_translation_event(store, "a", "red-solid", 10), _translation_event(store, "b", "blue-solid", 20),
              _translation_event(store, "c", "red-solid", 30), _translation_event(store, "d", "teal-solid", 40)]
    a, b, c, d = stage.handle_batch(events)
    assert calls == ["red-solid", "blue-solid"]
    assert isinstance(b, RuntimeError) and isinstance(d, UnknownStyleError)
    for done, value in ((a, 10), (c, 30)):
        assert done.stage == events_pb2.TRANSLATED
        assert [(m.name, m.version) for m in done.models] == [("red-solid", "v7")]
        assert np.abs(load_array(store, done.translated, "translated").astype(int) - value).max() <= 1


def _photo_event(store, request_id: str, person: np.ndarray | None, style: np.ndarray) -> events_pb2.TryOnEvent:
    event = events_pb2.TryOnEvent(request_id=request_id)
    if person is not None:
        event.person_image.CopyFrom(put_object(store, f"requests/{request_id}/person.png", _png(person), "image/png"))
    event.style_image.CopyFrom(put_object(store, f"requests/{request_id}/style.png", _png(style), "image/png"))
    return event


@pytest.fixture(scope="module")
def starter_registry(tmp_path_factory):
    from fittingroom.registry import ModelRegistry

    return ModelRegistry.with_starter_models(LocalFolderStore(tmp_path_factory.mktemp("models")))


def test_segmentation_then_style_over_a_local_store_with_the_product_cached(store, starter_registry):
    from fittingroom.images import SAMPLES_DIR, read_image
    from fittingroom.registry import available_style_classes
    from fittingroom.segmentation.adapter import SegmentationStage
    from fittingroom.segmentation.model import load_model as load_segmentation
    from fittingroom.style.adapter import StyleStage
    from fittingroom.style.model import load_model as load_style
    from fittingroom.style.stage import style_classes

    settings = Settings(body_prior=False)
    segmenter, segmenter_manifest = load_segmentation(starter_registry, settings.segmentation_model, "cpu")
    segmentation = SegmentationStage(segmenter, store, settings, device="cpu",
                                     models=[model_version(segmenter_manifest)])
    person, style = read_image(SAMPLES_DIR / "person.jpg"), read_image(SAMPLES_DIR / "style.jpg")
    first, second = _photo_event(store, "one", person, style), _photo_event(store, "two", person, style)
    broken = _photo_event(store, "broken", None, style)
    one, two, failed = segmentation.handle_batch([first, second, broken])
    assert isinstance(failed, BadRequestError) and "person image" in str(failed)
    assert one.stage == events_pb2.SEGMENTED and one.translation_input.shape == [256, 256, 3]
    assert one.style_garment.mask == two.style_garment.mask  # the product's mask, segmented once

    classifier, manifest = load_style(starter_registry, settings.style_model, "cpu")
    colours, patterns = style_classes(manifest)
    styling = StyleStage(classifier, colours, patterns, available_style_classes(starter_registry), store, settings,
                         device="cpu", models=[model_version(manifest)])
    labelled = styling.handle_batch([one])[0]
    again = styling.handle_batch([two])[0]  # the second shopper: a cache hit
    assert labelled.stage == events_pb2.STYLED and labelled.style.colour == "red"
    assert again.style.key == labelled.style.key and again.style.translation_key == labelled.style.translation_key
    assert [(m.kind, m.name, m.version) for m in labelled.models] == [
        ("segmentation", segmenter_manifest.name, segmenter_manifest.version), ("style", "stylenet", manifest.version)]
    assert labelled.models[0].sha256 == segmenter_manifest.sha256

    # A new segmentation version caches the product's mask beside the old one, never over it:
    # requests in flight still point to the old object (and its sha256).
    stored = dataclasses.replace(settings, inline_max_bytes=0)
    retrained_manifest = dataclasses.replace(segmenter_manifest, version="v99", sha256="0" * 64)
    old, new = (SegmentationStage(segmenter, store, stored, device="cpu", models=[model_version(m)]).handle_batch(
        [_photo_event(store, name, person, style)])[0] for name, m in (("four", segmenter_manifest),
                                                                       ("five", retrained_manifest)))
    assert old.style_garment.mask.key.startswith("cache/style/") and old.style_garment.mask.key != new.style_garment.mask.key
    assert load_array(store, old.style_garment.mask, "old cached mask").shape == (style.shape[0], (style.shape[1] + 7) // 8)
