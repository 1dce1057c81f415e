"""Settings from FITTINGROOM_* variables: typed, validated, named in errors."""

from pathlib import Path

import pytest

from fittingroom.errors import SettingsError
from fittingroom.registry import parse_model_ref
from fittingroom.settings import Settings


def test_defaults_and_environment():
    s = Settings.from_env({"FITTINGROOM_STORE_DIR": "/tmp/s", "FITTINGROOM_FEATHER_PX": "2.5"})
    assert s.store_dir == Path("/tmp/s") and s.feather_px == 2.5 and s.garment_policy == "match"


def test_overrides_beat_environment():
    s = Settings.from_env({"FITTINGROOM_STYLE_FALLBACK": "none"}, style_fallback="nearest")
    assert s.style_fallback == "nearest"


@pytest.mark.parametrize(
    "env, name",
    [
        ({"FITTINGROOM_SCORE_THRESHOLD": "high"}, "FITTINGROOM_SCORE_THRESHOLD"),
        ({"FITTINGROOM_SCORE_THRESHOLD": "1.5"}, "FITTINGROOM_SCORE_THRESHOLD"),
        ({"FITTINGROOM_GARMENT_POLICY": "hat"}, "FITTINGROOM_GARMENT_POLICY"),
        ({"FITTINGROOM_STYLE_FALLBACK": "guess"}, "FITTINGROOM_STYLE_FALLBACK"),
        ({"FITTINGROOM_MAX_IMAGE_PIXELS": "many"}, "FITTINGROOM_MAX_IMAGE_PIXELS"),
    ],
)
def test_bad_values_name_the_variable(env, name):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(env)


def test_category_policy_and_model_refs():
    assert Settings.from_env({"FITTINGROOM_GARMENT_POLICY": "trousers"}).garment_policy == "trousers"
    assert parse_model_ref("stylenet:3") == ("stylenet", "3")
    assert parse_model_ref("stylenet") == ("stylenet", None)
    assert len(Settings.documentation()) >= 10


def test_a_server_needs_tls_files_or_explicit_plaintext():
    with pytest.raises(SettingsError, match="FITTINGROOM_TLS_PLAINTEXT=true"):
        Settings.from_env({}).require_transport()
    Settings.from_env({"FITTINGROOM_TLS_PLAINTEXT": "true"}).require_transport()
    files = {"FITTINGROOM_TLS_CERT": "c.crt", "FITTINGROOM_TLS_KEY": "c.key", "FITTINGROOM_TLS_CA": "ca.crt"}
    Settings.from_env(files).require_transport()
    assert Settings.from_env({"FITTINGROOM_TLS_CA": "ca.crt"}).tls_files is None  # a client's: CA alone
    for broken in ({"FITTINGROOM_TLS_CERT": "c.crt", "FITTINGROOM_TLS_CA": "ca.crt"},
                   {"FITTINGROOM_TLS_CERT": "c.crt", "FITTINGROOM_TLS_KEY": "c.key"},
                   {**files, "FITTINGROOM_TLS_PLAINTEXT": "true"}):
        with pytest.raises(SettingsError):
            Settings.from_env(broken)
