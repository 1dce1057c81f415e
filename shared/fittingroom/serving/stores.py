"""The stores a service uses, chosen by settings: MinIO when an endpoint is set."""

from __future__ import annotations

import time

from fittingroom.registry import ModelRegistry
from fittingroom.serving.metrics import MODEL_LOAD_SECONDS
from fittingroom.settings import Settings
from fittingroom.storage import LocalFolderStore, ObjectStore


def bucket_store(settings: Settings, bucket: str) -> ObjectStore:
    """One bucket of MinIO, or a sub-folder of the local store when no endpoint is set."""
    if settings.s3_endpoint:
        from fittingroom.s3store import MinioStore

        access_key, secret_key = settings.s3_credentials()
        return MinioStore(settings.s3_endpoint, access_key, secret_key, bucket, secure=settings.s3_secure)
    return LocalFolderStore(settings.store_dir / bucket)


def request_store(settings: Settings) -> ObjectStore:
    """Where request photos, intermediate tensors and results live."""
    return bucket_store(settings, settings.requests_bucket)


def model_registry(settings: Settings) -> ModelRegistry:
    """The registry in the models bucket (MinIO) or the local store with starter fallback."""
    if settings.s3_endpoint:
        return ModelRegistry(bucket_store(settings, settings.models_bucket))
    return ModelRegistry.with_starter_models(LocalFolderStore(settings.store_dir))


class timed_load:
    """Context manager recording a model's load time in the service's metrics."""

    def __init__(self, service: str, model: str) -> None:
        self.labels = (service, model)

    def __enter__(self) -> "timed_load":
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        MODEL_LOAD_SECONDS.labels(*self.labels).set(time.perf_counter() - self.started)
