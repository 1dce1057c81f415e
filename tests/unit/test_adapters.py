"""Stage adapters over a local object store: references in, references out, failures per event."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from fittingroom.compositing.adapter import CompositingStage
from fittingroom.errors import BadRequestError, UnknownStyleError
from fittingroom.garments import Garment
from fittingroom.serving.blobs import garment_to_ref, load_array, load_image, save_array
from fittingroom.settings import Settings
from fittingroom.storage import LocalFolderStore
from fittingroom.tensors import put_object
from fittingroom.translation.adapter import TranslationStage
from fittingroom.v1 import events_pb2


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


def _composite_event(store, request_id: str, person: np.ndarray) -> events_pb2.TryOnEvent:
    mask = np.zeros(person.shape[:2], bool)
    mask[8:40, 10:30] = True
    garment = Garment(mask=mask, box=(10, 8, 30, 40), category=1)
    event = events_pb2.TryOnEvent(request_id=request_id)
    event.person_image.CopyFrom(put_object(store, f"requests/{request_id}/person.png", _png(person), "image/png"))
    event.person_garment.CopyFrom(garment_to_ref(store, f"requests/{request_id}/mask.npy", garment))
    event.translated.CopyFrom(save_array(store, f"requests/{request_id}/translated.npy",
                                         np.full((256, 256, 3), 200, np.uint8)))
    return event


def test_compositing_writes_the_result_and_fails_only_the_broken_request(store):
    person = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    good = _composite_event(store, "good", person)
    broken = _composite_event(store, "broken", person)
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


def _translation_event(store, request_id: str, key: str, value: int) -> events_pb2.TryOnEvent:
    event = events_pb2.TryOnEvent(request_id=request_id, style=dict(translation_key=key))
    event.translation_input.CopyFrom(save_array(store, f"requests/{request_id}/in.npy",
                                                np.full((256, 256, 3), value, np.uint8)))
    return event


def test_translation_runs_each_generator_once_per_group_and_keeps_failures_in_place(store):
    calls = []

    def generator_for(key):
        calls.append(key)
        if key == "blue-solid":
            raise RuntimeError("blue weights are corrupt")
        return _identity_generator()

    stage = TranslationStage(generator_for, ["red-solid", "blue-solid"], store, device="cpu")
    events = [_translation_event(store, "a", "red-solid", 10), _translation_event(store, "b", "blue-solid", 20),
              _translation_event(store, "c", "red-solid", 30), _translation_event(store, "d", "teal-solid", 40)]
    a, b, c, d = stage.handle_batch(events)
    assert calls == ["red-solid", "blue-solid"]
    assert isinstance(b, RuntimeError) and isinstance(d, UnknownStyleError)
    for done, value in ((a, 10), (c, 30)):
        assert done.stage == events_pb2.TRANSLATED
        assert np.abs(load_array(store, done.translated, "translated").astype(int) - value).max() <= 1
