"""Each service's own MinIO user (fittingroom.s3access) against the real MinIO that infra.sh provisioned.

What a service may do is checked by doing it with that service's keys; what it may
not do by trying it and reading the object back with the admin pair.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pytest
from minio.error import S3Error

from fittingroom.errors import StorageError
from fittingroom.retry import RetryPolicy
from fittingroom.s3access import ACCESS, credential_vars, service_credentials
from fittingroom.s3store import MinioStore
from fittingroom.tensors import INPUT_FOLDER, request_key, style_cache_key

if TYPE_CHECKING:
    from conftest import Infra, MinioConfig

STAGES = ("segmentation", "style", "translation", "compositing")
MODEL_SERVICES = ("segmentation", "style", "translation")
NO_RETRY = RetryPolicy(deadline_s=1.0)
StoreFor = Callable[[str, str], MinioStore]


@pytest.fixture(scope="module")
def store_for(infra: Infra, minio_config: MinioConfig) -> StoreFor:
    """``store_for(service, bucket)``: that bucket with the service's own keys ("admin": the admin pair)."""
    def make(service: str, bucket: str) -> MinioStore:
        if service == "admin":
            return minio_config.store(bucket, retry=NO_RETRY)
        access_key, secret_key = service_credentials(infra.env, service)
        return MinioStore(minio_config.endpoint, access_key, secret_key, bucket, retry=NO_RETRY)

    return make


@pytest.fixture
def request_id() -> str:
    return f"shop-{uuid.uuid4().hex[:6]}/{uuid.uuid4().hex[:12]}"


def _denied(call: Callable[[], object]) -> None:
    """The call is refused by MinIO's policy (AccessDenied), not by anything else."""
    with pytest.raises(StorageError, match="AccessDenied"):
        call()


def _delete_denied(store: MinioStore, key: str) -> None:
    """DeleteObject with ``store``'s keys is refused (no service deletes; request data expires)."""
    with pytest.raises(S3Error) as info:
        store.client.remove_object(store.bucket, key)
    assert info.value.code == "AccessDenied"


def test_every_service_has_its_own_user(infra: Infra) -> None:
    pairs = {service: service_credentials(infra.env, service) for service in ACCESS}
    access_keys = {access for access, _ in pairs.values()}
    assert len(access_keys) == len(ACCESS)
    assert infra.env["FITTINGROOM_S3_ACCESS_KEY"] not in access_keys, "no service runs on the admin pair"


def test_compositing_cannot_write_the_models_bucket(store_for: StoreFor, minio_config: MinioConfig) -> None:
    _denied(lambda: store_for("compositing", minio_config.models_bucket).put("segmentation/evil/v1/weights", b"x"))
    assert not store_for("admin", minio_config.models_bucket).exists("segmentation/evil/v1/weights")


def test_compositing_cannot_read_the_models_bucket(store_for: StoreFor, minio_config: MinioConfig) -> None:
    _denied(lambda: store_for("compositing", minio_config.models_bucket).list(""))


@pytest.mark.parametrize("service", ("gateway", *STAGES))
def test_no_service_can_overwrite_a_model(service: str, store_for: StoreFor, minio_config: MinioConfig) -> None:
    admin = store_for("admin", minio_config.models_bucket)
    key = f"test/{uuid.uuid4().hex[:8]}/v1/manifest.json"
    admin.put(key, b"the real manifest")
    _denied(lambda: store_for(service, minio_config.models_bucket).put(key, b"tampered"))
    _delete_denied(store_for(service, minio_config.models_bucket), key)
    assert admin.get(key) == b"the real manifest"


@pytest.mark.parametrize("service", MODEL_SERVICES)
def test_model_services_read_and_list_the_registry(service: str, store_for: StoreFor, minio_config: MinioConfig) -> None:
    admin = store_for("admin", minio_config.models_bucket)
    key = f"test/{uuid.uuid4().hex[:8]}/v1/manifest.json"
    admin.put(key, b"{}")
    models = store_for(service, minio_config.models_bucket)
    assert models.get(key) == b"{}"
    assert models.list(str(Path(key).parent) + "/") == [key]


@pytest.mark.parametrize("service", ("gateway", *STAGES))
def test_no_service_can_delete_request_data(service: str, store_for: StoreFor, minio_config: MinioConfig,
                                            request_id: str) -> None:
    admin = store_for("admin", minio_config.requests_bucket)
    key = request_key(request_id, INPUT_FOLDER, "person_image")
    admin.put(key, b"photo")
    _delete_denied(store_for(service, minio_config.requests_bucket), key)
    assert admin.get(key) == b"photo"


@pytest.mark.parametrize("service", STAGES)
def test_each_stage_writes_only_its_own_folder(service: str, store_for: StoreFor, minio_config: MinioConfig,
                                               request_id: str) -> None:
    store = store_for(service, minio_config.requests_bucket)
    store.put(request_key(request_id, service, "out.npy"), b"mine")
    for other in ("gateway", *STAGES):
        if other != service:
            folder = INPUT_FOLDER if other == "gateway" else other
            _denied(lambda: store.put(request_key(request_id, folder, "out.npy"), b"forged"))
    assert store_for("admin", minio_config.requests_bucket).get(request_key(request_id, service, "out.npy")) == b"mine"


def test_the_gateway_writes_inputs_and_reads_results_only(store_for: StoreFor, minio_config: MinioConfig,
                                                           request_id: str) -> None:
    admin = store_for("admin", minio_config.requests_bucket)
    gateway = store_for("gateway", minio_config.requests_bucket)
    gateway.put(request_key(request_id, INPUT_FOLDER, "person_image"), b"photo")
    result = request_key(request_id, "compositing", "result.png")
    admin.put(result, b"result")
    assert gateway.get(result) == b"result"
    _denied(lambda: gateway.put(result, b"forged result"))
    _denied(lambda: gateway.put(style_cache_key("0" * 64, "0" * 16, "mask.npy"), b"poisoned cache"))
    assert admin.get(result) == b"result"


def test_translation_reads_only_what_segmentation_made(store_for: StoreFor, minio_config: MinioConfig,
                                                        request_id: str) -> None:
    admin = store_for("admin", minio_config.requests_bucket)
    photo = request_key(request_id, INPUT_FOLDER, "person_image")
    crop = request_key(request_id, "segmentation", "translation_input.npy")
    admin.put(photo, b"photo")
    admin.put(crop, b"crop")
    translation = store_for("translation", minio_config.requests_bucket)
    assert translation.get(crop) == b"crop"
    _denied(lambda: translation.get(photo))


def test_the_product_cache_is_written_by_its_makers_only(store_for: StoreFor, minio_config: MinioConfig) -> None:
    digest = uuid.uuid4().hex * 2
    mask, fabric = style_cache_key(digest, "0" * 16, "mask.npy"), style_cache_key(digest, "0" * 16, "fabric.npy")
    store_for("segmentation", minio_config.requests_bucket).put(mask, b"mask")
    store_for("style", minio_config.requests_bucket).put(fabric, b"fabric")
    _denied(lambda: store_for("style", minio_config.requests_bucket).put(mask, b"forged mask"))
    _denied(lambda: store_for("compositing", minio_config.requests_bucket).put(fabric, b"forged fabric"))
    assert store_for("compositing", minio_config.requests_bucket).get(fabric) == b"fabric"


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_the_running_stack_runs_each_service_as_its_own_user(stack, infra: Infra) -> None:
    """The stack every other integration test uses: each process holds its own pair and no other."""
    for name, service in stack.services.items():
        env = _environ(service.process.pid)
        assert (env["FITTINGROOM_S3_ACCESS_KEY"], env["FITTINGROOM_S3_SECRET_KEY"]) == service_credentials(infra.env, name)
        assert not any(var in env for other in ACCESS for var in credential_vars(other)), name
