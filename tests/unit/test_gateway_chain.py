"""The gateway's gRPC chain is derived from fittingroom.chain: every request field comes from the event."""

import pytest

from fittingroom.chain import CHAIN
from fittingroom.gateway.stages import _EVENT_PATHS, _messages, merge_reply, stage_request
from fittingroom.v1 import events_pb2, stages_pb2


@pytest.mark.parametrize("spec", CHAIN, ids=lambda s: s.name)
def test_every_request_field_is_filled_from_the_event_and_every_reply_field_lands_in_it(spec):
    request_type, response_type = _messages(spec.grpc_method)
    event_fields = events_pb2.TryOnEvent.DESCRIPTOR.fields_by_name
    for field in request_type.DESCRIPTOR.fields:
        assert field.name in event_fields or field.name in _EVENT_PATHS, f"{spec.name}: {field.name}"
    for field in response_type.DESCRIPTOR.fields:
        assert field.name in event_fields or field.name == "milliseconds", f"{spec.name}: {field.name}"


def test_requests_and_replies_round_trip_through_the_event():
    event = events_pb2.TryOnEvent(request_id="r1", style=dict(translation_key="red-dots"))
    event.options.feather_px = 2.0
    event.translation_input.key = "requests/r1/segmentation/translation_input.npy"
    request = stage_request(event, stages_pb2.TranslateRequest)
    assert (request.request_id, request.translation_key) == ("r1", "red-dots")
    assert request.translation_input.key == event.translation_input.key
    assert stage_request(event, stages_pb2.SegmentRequest).options.feather_px == 2.0
    merge_reply(event, "translation", stages_pb2.TranslateResponse(milliseconds=12.5, translated=dict(key="t")))
    assert event.translated.key == "t"
    assert [(t.stage, t.milliseconds) for t in event.timings] == [("translation", 12.5)]


def test_model_versions_accumulate_along_the_chain_and_reach_the_stages_that_key_on_them():
    event = events_pb2.TryOnEvent(request_id="r1")
    merge_reply(event, "segmentation", stages_pb2.SegmentResponse(models=[dict(kind="segmentation", name="m", version="v1")]))
    assert [m.version for m in stage_request(event, stages_pb2.ClassifyRequest).models] == ["v1"]
    merge_reply(event, "style", stages_pb2.ClassifyResponse(models=[dict(kind="style", name="s", version="v2")]))
    merge_reply(event, "translation", stages_pb2.TranslateResponse(models=[dict(kind="translation", name="t", version="v3")]))
    assert [(m.kind, m.version) for m in stage_request(event, stages_pb2.CompositeRequest).models] == [
        ("segmentation", "v1"), ("style", "v2"), ("translation", "v3")]
