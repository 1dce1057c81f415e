"""Model registry: safetensors weights plus a JSON manifest per model version.

Layout in the object store (docs/design.md §2)::

    models/<kind>/<name>/<version>/weights.safetensors
    models/<kind>/<name>/<version>/manifest.json

Loading never unpickles anything and checks the weights' sha256 against the
manifest. A registry may have a read-only fallback store (the starter models that
ship with the package), consulted only for models the primary store lacks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fittingroom.errors import ModelIntegrityError, ModelNotFoundError, ObjectNotFoundError
from fittingroom.storage import LocalFolderStore, ObjectStore

if TYPE_CHECKING:  # torch is imported by the methods that move weights, so that the
    import torch  # gateway and compositing (which only list and read manifests) never load it.

KINDS = ("segmentation", "style", "translation")
WEIGHTS_FILE = "weights.safetensors"
MANIFEST_FILE = "manifest.json"
STARTER_STORE_DIR = Path(__file__).parent / "starter_models"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass
class ModelManifest:
    """What a model is, how it was trained and how well it did."""

    kind: str
    name: str
    version: str
    architecture: dict[str, Any]
    classes: list[str] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    dtype: str = "float32"
    created: str = ""

    @property
    def prefix(self) -> str:
        return model_prefix(self.kind, self.name, self.version)

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "ModelManifest":
        raw = json.loads(data)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


def parse_model_ref(ref: str) -> tuple[str, str | None]:
    """A model reference ``name[:version]`` → ``(name, version)``; no version means the newest."""
    name, _, version = ref.partition(":")
    return name, (version or None)


def model_prefix(kind: str, name: str, version: str) -> str:
    """Object-store prefix of one model version."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind '{kind}'; known: {', '.join(KINDS)}")
    for part in (name, version):
        if not _NAME_RE.match(part):
            raise ValueError(f"invalid model name or version '{part}'")
    return f"models/{kind}/{name}/{version}"


def _version_sort_key(version: str) -> tuple:
    """Numeric parts compare as numbers ("v10" after "v9"); text parts sort before them."""
    return tuple((1, int(p), "") if p.isdigit() else (0, 0, p) for p in re.split(r"[._-]", version.lstrip("v")))


class ModelRegistry:
    """Save, find and load model versions in an object store."""

    def __init__(self, store: ObjectStore, fallback: ObjectStore | None = None) -> None:
        self.store = store
        self.fallback = fallback

    @classmethod
    def with_starter_models(cls, store: ObjectStore) -> "ModelRegistry":
        """A registry over ``store`` that falls back to the bundled starter models."""
        return cls(store, LocalFolderStore(STARTER_STORE_DIR, read_only=True))

    def _stores(self) -> list[ObjectStore]:
        return [s for s in (self.store, self.fallback) if s is not None]

    def save(
        self,
        manifest: ModelManifest,
        state_dict: dict[str, torch.Tensor],
        half: bool = False,
    ) -> ModelManifest:
        """Store weights (optionally as float16) and the manifest; returns the manifest written."""
        from safetensors.torch import save as save_safetensors

        tensors = {}
        for key, tensor in state_dict.items():
            tensor = tensor.detach().cpu().contiguous()
            if half and tensor.is_floating_point():
                tensor = tensor.half()
            tensors[key] = tensor
        blob = save_safetensors(tensors)
        manifest = dataclasses.replace(
            manifest,
            sha256=hashlib.sha256(blob).hexdigest(),
            dtype="float16" if half else "float32",
            created=manifest.created or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        self.store.put(f"{manifest.prefix}/{WEIGHTS_FILE}", blob)
        self.store.put(f"{manifest.prefix}/{MANIFEST_FILE}", manifest.to_json())
        return manifest

    def versions(self, kind: str, name: str) -> list[str]:
        """Versions of one model across the stores, oldest first."""
        prefix = f"models/{kind}/{name}/"
        found = set()
        for store in self._stores():
            for key in store.list(prefix):
                rest = key[len(prefix):].split("/")
                if len(rest) == 2 and rest[1] == MANIFEST_FILE:
                    found.add(rest[0])
        return sorted(found, key=_version_sort_key)

    def all_versions(self, kind: str) -> dict[str, list[str]]:
        """Every model of a kind with its versions, oldest first, from one listing per store."""
        prefix = f"models/{kind}/"
        found: dict[str, set[str]] = {}
        for store in self._stores():
            for key in store.list(prefix):
                parts = key[len(prefix):].split("/")
                if len(parts) == 3 and parts[2] == MANIFEST_FILE:
                    found.setdefault(parts[0], set()).add(parts[1])
        return {name: sorted(versions, key=_version_sort_key) for name, versions in sorted(found.items())}

    def next_version(self, kind: str, name: str) -> str:
        """``v<N+1>`` where ``vN`` is the highest numbered version of the model (``v1`` if none)."""
        numbers = [int(m.group(1)) for v in self.versions(kind, name) if (m := re.fullmatch(r"v?(\d+)", v))]
        return f"v{max(numbers, default=0) + 1}"

    def names(self, kind: str) -> list[str]:
        """Model names registered under a kind."""
        return list(self.all_versions(kind))

    def manifests(self, kind: str | None = None) -> list[ModelManifest]:
        """Every manifest (latest and older versions) under a kind, or all kinds."""
        result = []
        for k in ([kind] if kind else list(KINDS)):
            for name in self.names(k):
                for version in self.versions(k, name):
                    result.append(self.manifest(k, name, version))
        return result

    def resolve_version(self, kind: str, name: str, version: str | None = None,
                        listing: dict[str, list[str]] | None = None) -> str:
        """The requested version, or the latest one when ``version`` is None/"latest" (``listing``:
        :meth:`all_versions` of the kind, saving a request per model)."""
        if version and version != "latest":
            return version
        versions = listing.get(name, []) if listing is not None else self.versions(kind, name)
        if not versions:
            raise ModelNotFoundError(f"no model {kind}/{name} in {self._describe()}")
        return versions[-1]

    def manifest(self, kind: str, name: str, version: str | None = None) -> ModelManifest:
        """Read one manifest."""
        version = self.resolve_version(kind, name, version)
        data = self._get(f"{model_prefix(kind, name, version)}/{MANIFEST_FILE}")
        return ModelManifest.from_json(data)

    def load(
        self, kind: str, name: str, version: str | None = None
    ) -> tuple[dict[str, torch.Tensor], ModelManifest]:
        """Weights (as float32) and manifest of a model version, sha256-checked."""
        from safetensors.torch import load as load_safetensors

        manifest = self.manifest(kind, name, version)
        blob = self._get(f"{manifest.prefix}/{WEIGHTS_FILE}")
        digest = hashlib.sha256(blob).hexdigest()
        if digest != manifest.sha256:
            raise ModelIntegrityError(
                f"{manifest.prefix}/{WEIGHTS_FILE}: sha256 {digest[:12]}… does not match "
                f"manifest {manifest.sha256[:12]}…"
            )
        try:
            tensors = load_safetensors(blob)
        except Exception as exc:
            raise ModelIntegrityError(f"{manifest.prefix}: unreadable weights: {exc}") from exc
        state = {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}
        return state, manifest

    def record_build(self, kind: str, name: str, version: str, build: dict[str, Any]) -> ModelManifest:
        """Add how a model version was built (command, commit, seed, seconds) to its manifest."""
        manifest = self.manifest(kind, name, version)
        manifest = dataclasses.replace(manifest, training={**manifest.training, "build": build})
        self.store.put(f"{manifest.prefix}/{MANIFEST_FILE}", manifest.to_json())
        return manifest

    def copy_to(self, target: ObjectStore, kind: str, name: str, version: str | None = None) -> ModelManifest:
        """Copy one model version into another store (``models push``/``pull``)."""
        manifest = self.manifest(kind, name, version)
        for file in (WEIGHTS_FILE, MANIFEST_FILE):
            target.put(f"{manifest.prefix}/{file}", self._get(f"{manifest.prefix}/{file}"))
        return manifest

    def _get(self, key: str) -> bytes:
        for store in self._stores():
            try:
                return store.get(key)
            except ObjectNotFoundError:
                continue
        raise ModelNotFoundError(f"no object {key} in {self._describe()}")

    def _describe(self) -> str:
        return " or ".join(s.describe() for s in self._stores())


def available_style_classes(registry: ModelRegistry) -> list[str]:
    """Style class keys that have translation weights: translation models are named by their class."""
    return registry.names("translation")
