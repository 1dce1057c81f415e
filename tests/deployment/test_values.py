"""The chart's values: every one is read by a template, and README.md lists exactly them."""

from __future__ import annotations

import re

import pytest
import yaml
from deploy_support import CHART, template, without_generated_credentials

# Values whose content is passed through as a whole (not descended into).
FREE_FORM = {"env", "resources", "nodeSelector", "tolerations", "affinity", "labels", "pullSecrets",
             "namespaceSelector", "podSelector"}
# Free-form values get a content of their own kind.
FREE_FORM_MUTATION = {
    "env": {"FITTINGROOM_LOG_LEVEL": "DEBUG"}, "resources": {"limits": {"cpu": "3"}},
    "nodeSelector": {"mutated": "yes"}, "labels": {"mutated": "yes"}, "pullSecrets": [{"name": "mutated"}],
    "tolerations": [{"key": "mutated", "operator": "Exists"}],
    "namespaceSelector": {"matchLabels": {"mutated": "yes"}}, "podSelector": {"matchLabels": {"mutated": "yes"}},
    "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "preference": {"matchExpressions": [{"key": "mutated", "operator": "Exists"}]}}]}},
}
# Values only read in some configurations: the extra values that make them read.
CONTEXT = {
    "kafka.bootstrapKey": {"kafka": {"existingSecret": "k"}},
    "kafka.caKey": {"kafka": {"caSecret": "kafka-ca"}},
    "apiKeys.key": {"apiKeys": {"existingSecret": "k"}},
    "services.<name>.replicas": {"services": {"{name}": {"autoscaling": {"enabled": False}}}},
    "services.<name>.nodeSelector": {"services": {"{name}": {"gpu": {"enabled": False}}}},
    "services.<name>.tolerations": {"services": {"{name}": {"gpu": {"enabled": False}}}},
    "services.<name>.affinity": {"services": {"{name}": {"gpu": {"enabled": False}}}},
    "tls.existingSecret": {"tls": {"enabled": True, "existingSecret": "fittingroom-tls"}},
    "tls.certManager.enabled": {"tls": {"enabled": True, "existingSecret": "fittingroom-tls"}},
    **{f"tls.certManager.issuerRef.{key}": {"tls": {"enabled": True, "certManager": {
        "enabled": True, "issuerRef": {"name": "fittingroom-ca"}}}} for key in ("name", "kind", "group")},
}


def value_paths(values: dict) -> dict[str, tuple[str, ...]]:
    """README-style path -> one concrete path in values.yaml (services.<name> generalised)."""
    found: dict[str, tuple[str, ...]] = {}

    def walk(node: dict, prefix: tuple[str, ...]) -> None:
        for key, child in node.items():
            path = prefix + (key,)
            if isinstance(child, dict) and child and key not in FREE_FORM:
                walk(child, path)
            else:
                general = ("services", "<name>", *path[2:]) if path[0] == "services" else path
                found.setdefault(".".join(general), path)

    walk(values, ())
    return found


def nested(path: tuple[str, ...], leaf) -> dict:
    for key in reversed(path):
        leaf = {key: leaf}
    return leaf


def merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for key, value in b.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def mutated(path: tuple[str, ...], current):
    if path[-1] in FREE_FORM:
        return FREE_FORM_MUTATION[path[-1]]
    if isinstance(current, bool):
        return not current
    if isinstance(current, (int, float)):
        return current + 1 if path[-1] != "maxReplicas" else current - 1
    return f"{current}mutated" if current else "mutated"


def _comparable(rendered: str) -> list[dict]:
    """The objects of a render, without the credentials every render draws anew."""
    return without_generated_credentials([doc for doc in yaml.safe_load_all(rendered) if doc])


def readme_paths() -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", (CHART / "README.md").read_text(), re.MULTILINE))


@pytest.fixture(scope="module")
def paths(values) -> dict[str, tuple[str, ...]]:
    return value_paths(values)


def test_readme_lists_every_value_and_nothing_else(paths):
    assert readme_paths() == set(paths)


def test_every_value_is_read_by_a_template(helm, values, paths, tmp_path):
    unread = []
    for general, path in paths.items():
        context = CONTEXT.get(general, {})
        if path[0] == "services":
            context = yaml.safe_load(yaml.safe_dump(context).replace("'{name}'", path[1]).replace("{name}", path[1]))
        current = values
        for key in path:
            current = current[key]
        base_file, changed_file = tmp_path / "base.yaml", tmp_path / "changed.yaml"
        base_file.write_text(yaml.safe_dump(context))
        changed_file.write_text(yaml.safe_dump(merge(context, nested(path, mutated(path, current)))))
        base, changed = template(helm, "-f", str(base_file)), template(helm, "-f", str(changed_file))
        assert base.returncode == 0, (general, base.stderr)
        if changed.returncode == 0 and _comparable(base.stdout) == _comparable(changed.stdout):
            unread.append(general)
    assert not unread, f"values no template reads: {unread}"


def test_profile_values_files_only_set_known_values(paths):
    known = set(paths)
    for name in ("values-cpu.yaml", "values-dev.yaml"):
        profile = value_paths(yaml.safe_load((CHART / name).read_text()))
        assert set(profile) <= known, (name, set(profile) - known)
