"""Model rollouts under load against the real stack: new translation weights registered in MinIO are
served without a restart and without a failed request; weights that fail to load are not switched to;
a reference written to the services' refs folder (the chart's ConfigMap) rolls them back."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from fittingroom.cli.client import ApiKeyInterceptor
from fittingroom.images import SAMPLES_DIR
from fittingroom.registry import MANIFEST_FILE, WEIGHTS_FILE, ModelRegistry, model_prefix
from fittingroom.tensors import get_object
from fittingroom.v1 import events_pb2, tryon_pb2, tryon_pb2_grpc

from conftest import wait_final

SWITCH_TIMEOUT_S = 180
REPORT = Path(__file__).resolve().parents[2] / "out" / "reports" / "model-rollout.json"


@pytest.fixture(scope="module")
def client(stack):
    channel = grpc.insecure_channel(stack.gateway)
    yield tryon_pb2_grpc.TryOnServiceStub(grpc.intercept_channel(channel, ApiKeyInterceptor(stack.api_key)))
    channel.close()


def _request() -> tryon_pb2.TryOnRequest:
    return tryon_pb2.TryOnRequest(person_image=(SAMPLES_DIR / "person.jpg").read_bytes(),
                                  style_image=(SAMPLES_DIR / "style.jpg").read_bytes())


def _translation_version(models) -> str:
    [version] = [m.version for m in models if m.kind == "translation"]
    return version


@dataclass
class Load:
    """Shoppers calling TryOn back to back, and a stream of Submits, until stopped."""

    client: tryon_pb2_grpc.TryOnServiceStub
    tryon_versions: list[str] = field(default_factory=list)  # translation version of each TryOn, in order
    submitted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.threads = [threading.Thread(target=self._tryons, daemon=True),
                        threading.Thread(target=self._submits, daemon=True)]
        for thread in self.threads:
            thread.start()

    def _tryons(self) -> None:
        while not self.stopping.is_set():
            try:
                reply = self.client.TryOn(_request(), timeout=120)
                self.tryon_versions.append(_translation_version(reply.models))
            except grpc.RpcError as exc:
                self.errors.append(f"TryOn: {exc.code()}: {exc.details()}")

    def _submits(self) -> None:
        while not self.stopping.wait(1.0):
            try:
                self.submitted.append(self.client.Submit(_request(), timeout=30).request_id)
            except grpc.RpcError as exc:
                self.errors.append(f"Submit: {exc.code()}: {exc.details()}")

    def wait_for_version(self, version: str, what: str) -> float:
        """Seconds until a try-on came back made by ``version``."""
        started = time.monotonic()
        while version not in self.tryon_versions[-1:]:
            assert not self.errors, self.errors
            assert time.monotonic() < started + SWITCH_TIMEOUT_S, f"never served {what} ({version}): {self.tryon_versions}"
            time.sleep(0.2)
        return time.monotonic() - started

    def serve_more(self, count: int) -> None:
        target = len(self.tryon_versions) + count
        deadline = time.monotonic() + SWITCH_TIMEOUT_S
        while len(self.tryon_versions) < target:
            assert time.monotonic() < deadline, "the try-ons stopped coming back"
            time.sleep(0.2)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=150)


def _metric(stack, service: str, line_start: str) -> float | None:
    port = stack.services[service].metrics_port
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)]
    return values[0] if values else None


def _wait_metric(stack, service: str, line_start: str, value: float) -> None:
    deadline = time.monotonic() + SWITCH_TIMEOUT_S
    while _metric(stack, service, line_start) != value:
        assert time.monotonic() < deadline, f"{line_start} never became {value}: {_metric(stack, service, line_start)}"
        time.sleep(0.5)


def _info(style_class: str, version: str) -> str:
    """The fittingroom_model_info sample of the translation service serving ``version`` of a class."""
    return (f'fittingroom_model_info{{kind="translation",name="{style_class}",service="translation",'
            f'version="{version}"}}')


def _remove_version(models_store, kind: str, name: str, version: str) -> None:
    prefix = model_prefix(kind, name, version)
    for file in (WEIGHTS_FILE, MANIFEST_FILE):
        models_store.client.remove_object(models_store.bucket, f"{prefix}/{file}")


def test_new_translation_weights_roll_out_under_load_with_zero_failed_requests(client, stack, minio_config):
    models_store = minio_config.store(minio_config.models_bucket)
    registry = ModelRegistry(models_store)
    first = client.TryOn(_request(), timeout=120)
    style_class, serving = first.style.translation_key, _translation_version(first.models)
    state, manifest = registry.load("translation", style_class, serving)
    retrained, broken = registry.next_version("translation", style_class), None
    refs_file = stack.model_refs_dir / "translation_model"
    load = Load(client)
    try:
        load.serve_more(3)
        # A retrained generator is registered while shoppers are being served ("*" follows the newest).
        darker = {key: value * 0.9 if key.endswith("weight") else value for key, value in state.items()}
        registry.save(dataclasses.replace(manifest, version=retrained, sha256="", created=""), darker)
        switch_s = load.wait_for_version(retrained, "the retrained generator")
        load.serve_more(3)
        _wait_metric(stack, "translation", _info(style_class, retrained), 1.0)

        # A corrupt version is not switched to: the replica keeps serving and raises the alarm.
        # (Weights first: a version exists once its manifest does.)
        broken = registry.next_version("translation", style_class)
        prefix = model_prefix("translation", style_class, broken)
        models_store.put(f"{prefix}/{WEIGHTS_FILE}", b"not safetensors")
        models_store.put(f"{prefix}/{MANIFEST_FILE}", dataclasses.replace(manifest, version=broken).to_json())
        _wait_metric(stack, "translation", 'fittingroom_model_rollout_failed{service="translation"}', 1.0)
        load.serve_more(3)
        assert set(load.tryon_versions[-3:]) == {retrained}

        # An operator rolls back by pinning the reference (the chart's models ConfigMap).
        refs_file.write_text(f"*:{serving}\n")
        rollback_s = load.wait_for_version(serving, "the pinned version")
        _wait_metric(stack, "translation", 'fittingroom_model_rollout_failed{service="translation"}', 0.0)
        load.serve_more(2)
    finally:
        load.stop()
        for version in (retrained, broken):
            if version:
                _remove_version(models_store, "translation", style_class, version)
        refs_file.unlink(missing_ok=True)

    assert not load.errors, load.errors
    versions = load.tryon_versions
    switched = versions.index(retrained)
    rolled_back = versions.index(serving, switched)
    # Each phase served its version only: old, retrained (the broken one never), the pinned old one again.
    assert set(versions[:switched]) == {serving} and set(versions[switched:rolled_back]) == {retrained}
    assert set(versions[rolled_back:]) == {serving}, versions
    finals = {request_id: wait_final(client, request_id) for request_id in load.submitted}
    assert finals and all(s.stage == events_pb2.COMPLETED for s in finals.values()), \
        [s.error.message for s in finals.values() if s.stage != events_pb2.COMPLETED]
    by_kafka = [_translation_version(s.models) for s in finals.values()]
    assert set(by_kafka) <= {serving, retrained}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({
        "tryon_calls": len(versions), "tryon_by_version": {v: versions.count(v) for v in (serving, retrained)},
        "submitted": len(finals), "submitted_by_version": {v: by_kafka.count(v) for v in (serving, retrained)},
        "failed_requests": len(load.errors) + sum(s.stage != events_pb2.COMPLETED for s in finals.values()),
        "seconds_to_serve_registered_version": round(switch_s, 1), "seconds_to_serve_pinned_version": round(rollback_s, 1),
    }, indent=2) + "\n")
    last = finals[load.submitted[-1]]
    requests_store = minio_config.store(minio_config.requests_bucket)
    assert json.loads(get_object(requests_store, last.result_manifest))["models"][-1]["version"] == serving
    # The stack serves the starter version again for the tests after this one.
    _wait_metric(stack, "translation", _info(style_class, serving), 1.0)
