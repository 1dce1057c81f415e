"""A try-on result's manifest: what produced it, written as JSON beside the result image.

One description for every door: the compositing stage stores it next to
``result.png`` (the gRPC and Kafka paths), the embedded CLI writes it next to its
output file. It names the model versions that worked on the request, so a
rollout can be traced to the results it made.
"""

from __future__ import annotations

import json
from typing import Any

from fittingroom.v1 import events_pb2

MANIFEST_NAME = "result.json"


def result_manifest(event: events_pb2.TryOnEvent) -> dict[str, Any]:
    """Request, result, model versions, style class, the exact steps that ran and the stage timings."""
    style, garment = event.style, event.person_garment
    return {
        "request_id": event.request_id,
        "tenant": event.tenant,
        "result": {"key": event.result.key, "sha256": event.result.sha256} if event.HasField("result") else None,
        "models": [{"kind": m.kind, "name": m.name, "version": m.version, "sha256": m.sha256} for m in event.models],
        "style_class": style.key,
        "style_confidence": round(style.confidence, 4),
        "translation_weights": style.translation_key,
        "product_lab": [round(v, 2) for v in style.product_lab] if len(style.product_lab) == 3 else None,
        "exact_colour": event.exact_colour,
        "exact_pattern": event.exact_pattern,
        "person_garment": {"category": garment.category_name,
                           "box": [garment.box.x1, garment.box.y1, garment.box.x2, garment.box.y2],
                           "score": round(garment.score, 4)},
        "timings_ms": {t.stage: round(t.milliseconds, 1) for t in event.timings},
    }


def encode_manifest(manifest: dict[str, Any]) -> bytes:
    """The manifest as the JSON file it is stored as."""
    return (json.dumps(manifest, indent=1) + "\n").encode()
