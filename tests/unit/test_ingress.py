"""The gateway's ingress relay: a shop's event gets the tenant of the topic its principal may write."""

from __future__ import annotations

import pytest

from fittingroom.gateway.ingress import INGRESS_PATTERN, accepted_event
from fittingroom.v1 import common_pb2, events_pb2


def _event(request_id: str = "order-1", tenant: str = "", owner: str = "acme") -> bytes:
    event = events_pb2.TryOnEvent(request_id=request_id, tenant=tenant, stage=events_pb2.COMPLETED, attempt=7)
    for field in ("person_image", "style_image"):
        getattr(event, field).CopyFrom(common_pb2.ObjectRef(bucket="b", key=f"requests/{owner}/order-1/{field}"))
    return event.SerializeToString()


def test_the_tenant_comes_from_the_topic_not_the_payload():
    event = accepted_event("tryon.ingress.acme", _event(tenant="other-shop"))
    assert (event.request_id, event.tenant) == ("acme/order-1", "acme")
    assert (event.stage, event.attempt) == (events_pb2.SUBMITTED, 1)
    assert event.HasField("created")


def test_an_id_already_under_the_topics_tenant_is_kept():
    assert accepted_event("tryon.ingress.acme", _event("acme/order-1")).request_id == "acme/order-1"


@pytest.mark.parametrize("topic, raw, reason", [
    ("tryon.ingress.acme", _event(owner="other-shop"), "no object"),
    ("tryon.ingress.acme", _event("other-shop/order-1"), "request_id"),
    ("tryon.ingress.acme", b"\xff\x00 not protobuf", "not a TryOnEvent"),
    ("tryon.ingress.acme", None, "tombstone"),
    ("tryon.requests", _event(), "not a tenant's ingress topic"),
])
def test_events_a_shop_may_not_publish_are_refused_with_the_reason(topic, raw, reason):
    with pytest.raises(ValueError, match=reason):
        accepted_event(topic, raw)


def _with_stage_output(field: str) -> bytes:
    event = events_pb2.TryOnEvent.FromString(_event())
    inline = common_pb2.TensorRef(dtype="uint8", shape=[4], inline=b"\x01" * 4)
    if field == "person_garment":
        event.person_garment.mask.CopyFrom(inline)
    else:
        getattr(event, field).CopyFrom(inline)
    return event.SerializeToString()


@pytest.mark.parametrize("field", ["person_garment", "translation_input", "translated"])
def test_a_shop_cannot_smuggle_an_inline_tensor_as_a_stage_output(field):
    with pytest.raises(ValueError, match=f"may not carry stage outputs: {field}"):
        accepted_event("tryon.ingress.acme", _with_stage_output(field))


def test_a_shop_cannot_publish_a_photo_inline():
    event = events_pb2.TryOnEvent.FromString(_event())
    event.person_image.inline = b"\x89PNG..."
    with pytest.raises(ValueError, match="inline bytes"):
        accepted_event("tryon.ingress.acme", event.SerializeToString())


def test_the_subscription_pattern_matches_ingress_topics_only():
    import re

    assert re.match(INGRESS_PATTERN, "tryon.ingress.acme")
    assert not re.match(INGRESS_PATTERN, "tryon.ingressXacme") and not re.match(INGRESS_PATTERN, "tryon.requests")
