"""Object storage credentials: required at start when MinIO/S3 is configured, never defaulted."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fittingroom import provision
from fittingroom.chain import GATEWAY
from fittingroom.errors import MissingCredentialsError, SettingsError
from fittingroom.s3store import MinioStore
from fittingroom.serving.runner import LoadedService, ServiceDefinition, run_service
from fittingroom.serving.stores import bucket_store, request_store
from fittingroom.settings import Settings
from fittingroom.storage import LocalFolderStore

ENDPOINT = {"FITTINGROOM_S3_ENDPOINT": "127.0.0.1:9"}


@pytest.mark.parametrize("keys, missing", [
    ({}, ["FITTINGROOM_S3_ACCESS_KEY", "FITTINGROOM_S3_SECRET_KEY"]),
    ({"FITTINGROOM_S3_ACCESS_KEY": "reader"}, ["FITTINGROOM_S3_SECRET_KEY"]),
    ({"FITTINGROOM_S3_SECRET_KEY": "s3cr3t-key"}, ["FITTINGROOM_S3_ACCESS_KEY"]),
])
def test_endpoint_without_keys_is_refused_naming_what_is_missing(keys, missing):
    with pytest.raises(MissingCredentialsError) as caught:
        Settings.from_env({**ENDPOINT, **keys})
    for name in missing:
        assert name in str(caught.value)
    assert "FITTINGROOM_S3_ENDPOINT" in str(caught.value)
    assert isinstance(caught.value, SettingsError), "the CLI reports it as a settings error"


def test_endpoint_with_keys_builds_a_minio_store():
    settings = Settings.from_env({**ENDPOINT, "FITTINGROOM_S3_ACCESS_KEY": "reader",
                                  "FITTINGROOM_S3_SECRET_KEY": "s3cr3t-key"})
    store = bucket_store(settings, "fittingroom-requests")
    assert isinstance(store, MinioStore) and store.bucket == "fittingroom-requests"


def test_local_store_needs_no_keys(tmp_path: Path):
    settings = Settings.from_env({"FITTINGROOM_STORE_DIR": str(tmp_path)})
    store = request_store(settings)
    assert isinstance(store, LocalFolderStore)
    store.put("requests/r1/input/person", b"photo")
    assert store.get("requests/r1/input/person") == b"photo"


def test_store_built_from_unvalidated_settings_is_refused():
    with pytest.raises(MissingCredentialsError):
        bucket_store(Settings(s3_endpoint="127.0.0.1:9"), "fittingroom-models")


def test_service_without_keys_stops_before_it_listens_or_loads():
    calls = []
    definition = ServiceDefinition(
        spec=GATEWAY,
        register=lambda *args: calls.append("register"),
        load=lambda settings: calls.append("load") or LoadedService(),
    )
    with pytest.raises(MissingCredentialsError):
        run_service(definition, Settings(s3_endpoint="127.0.0.1:9", grpc_port=1, metrics_port=1))
    assert calls == []


def test_provisioning_has_no_default_keys(monkeypatch):
    for name in ("FITTINGROOM_S3_ACCESS_KEY", "FITTINGROOM_S3_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    connected = []
    monkeypatch.setattr(provision, "connect_admin", lambda *args: connected.append(args))
    result = CliRunner().invoke(provision.app, ["--s3-endpoint", "127.0.0.1:9"])
    assert result.exit_code != 0
    assert "--access-key" in result.output
    assert connected == [], "nothing is contacted without keys"
