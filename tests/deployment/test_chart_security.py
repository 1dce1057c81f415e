"""The chart's security defaults: no fixed credential in any Secret it renders."""

from __future__ import annotations

import base64

import pytest
import yaml
from deploy_support import ALL_PROFILES, CHART, by_kind, template


def _scalars(node) -> set[str]:
    """Every scalar written in a values file, as text."""
    if isinstance(node, dict):
        return set().union(*(_scalars(v) for v in node.values()), set())
    if isinstance(node, list):
        return set().union(*(_scalars(v) for v in node), set())
    return {str(node)}


def _secret_values(objects: list[dict]) -> dict[tuple[str, str], str]:
    """(Secret name, key) -> decoded value, for every Secret of a render."""
    found = {}
    for obj in objects:
        if obj["kind"] == "Secret":
            for key, value in (obj.get("data") or {}).items():
                found[(obj["metadata"]["name"], key)] = base64.b64decode(value).decode()
            for key, value in (obj.get("stringData") or {}).items():
                found[(obj["metadata"]["name"], key)] = value
    return found


def _render(helm: str, *args: str) -> list[dict]:
    out = template(helm, *args)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_no_secret_holds_a_fixed_credential(helm, profile):
    """Two renders draw different keys, none of them written in any values file."""
    literals = set().union(*(_scalars(yaml.safe_load((CHART / name).read_text()))
                             for name in ("values.yaml", "values-cpu.yaml", "values-dev.yaml")))
    first = _secret_values(_render(helm, *ALL_PROFILES[profile]))
    second = _secret_values(_render(helm, *ALL_PROFILES[profile]))
    assert first.keys() == second.keys()
    for key, value in first.items():
        assert value not in literals, (profile, key)
        assert len(value) >= 20, (profile, key)
        assert value != second[key], f"{key} is the same in two renders: a fixed default"


def test_default_install_generates_the_minio_keys(rendered):
    [secret] = by_kind(rendered["defaults"], "Secret").values()
    assert set(secret["data"]) == {"access-key", "secret-key"}
    assert "stringData" not in secret


def test_generated_keys_are_kept_across_upgrades():
    """The keys are read back from the live Secret (lookup) before any are drawn.

    `helm template` cannot reach a cluster, so this reads the template: each key
    comes from the looked-up Secret first, and only falls back to a random draw.
    """
    text = (CHART / "templates" / "secret.yaml").read_text()
    assert 'lookup "v1" "Secret" .Release.Namespace $name' in text
    for key in ("accessKeyKey", "secretKeyKey"):
        assert f"get $kept .Values.s3.{key} | default (randAlphaNum" in text


def test_values_offer_no_key_pair(values):
    assert "accessKey" not in values["s3"] and "secretKey" not in values["s3"]
