"""Run in a fresh interpreter by ``test_lean_processes.py``: build one service as ``fittingroom-serve`` does,
serve one request through its gRPC door, and print which heavy modules the process then holds.

Usage: ``python lean_process_probe.py <gateway|compositing> <store dir>``; prints one JSON object.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import grpc
import numpy as np

HEAVY_MODULES = ("torch", "torchvision", "cv2", "scipy", "skimage", "matplotlib", "ai_edge_litert")


def _composite_request(store) -> "object":
    """A Composite call on a 48×40 photo whose 20×32 garment is replaced by a flat translation."""
    from fittingroom.garments import Garment
    from fittingroom.images import encode_image
    from fittingroom.serving.blobs import garment_to_ref, save_array
    from fittingroom.tensors import DEFAULT_INLINE_MAX_BYTES, put_object
    from fittingroom.v1 import stages_pb2

    person = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    mask = np.zeros(person.shape[:2], bool)
    mask[8:40, 10:30] = True
    return stages_pb2.CompositeRequest(
        request_id="probe",
        person_image=put_object(store, "requests/probe/person.png", encode_image(person), "image/png"),
        person_garment=garment_to_ref(store, "requests/probe/mask.npy", Garment(mask=mask, box=(10, 8, 30, 40), category=1),
                                      DEFAULT_INLINE_MAX_BYTES),
        translated=save_array(store, "requests/probe/translated.npy", np.full((256, 256, 3), 200, np.uint8),
                              DEFAULT_INLINE_MAX_BYTES),
    )


def _one_request(service: str, channel: grpc.Channel, store) -> str:
    """One call through the service's own door; the outcome, as a short word."""
    from fittingroom.v1 import stages_pb2_grpc, tryon_pb2, tryon_pb2_grpc

    if service == "compositing":
        reply = stages_pb2_grpc.CompositingServiceStub(channel).Composite(_composite_request(store), timeout=60)
        return "composited" if reply.result.key else "no result"
    try:
        tryon_pb2_grpc.TryOnServiceStub(channel).Get(tryon_pb2.GetRequest(request_id="unknown"), timeout=60)
    except grpc.RpcError as error:
        return error.code().name
    return "found"


def main(service: str, store_dir: str) -> None:
    import fittingroom.cli.serve  # noqa: F401 - the entry point services start with, imported as it is
    from fittingroom.serving.grpc_server import GrpcServer
    from fittingroom.serving.runner import StageHandle
    from fittingroom.serving.stores import request_store
    from fittingroom.settings import Settings

    settings = Settings.from_env({}, store_dir=Path(store_dir), tls_plaintext=True, allow_anonymous=True,
                                 enable_worker=False)
    definition = importlib.import_module(f"fittingroom.{service}.service").DEFINITION
    server = GrpcServer(service, 0, settings.grpc_max_message_bytes, max_workers=settings.grpc_workers)
    handle = StageHandle(service)
    definition.register(server, handle, settings)
    server.start()
    handle.loaded = definition.load(settings)
    server.set_serving(True)
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        outcome = _one_request(service, channel, request_store(settings))
    server.stop(0)
    print(json.dumps({"outcome": outcome, "modules": [m for m in HEAVY_MODULES if m in sys.modules]}))


if __name__ == "__main__":
    main(*sys.argv[1:])
