"""Model rollouts without a restart: new versions are loaded beside the old ones and switched to at once.

What a model service serves with is named by its model references: the settings
``FITTINGROOM_SEGMENTATION_MODEL``, ``_STYLE_MODEL`` and ``_TRANSLATION_MODEL``,
each overridden by a file of the same name in ``FITTINGROOM_MODEL_REFS_DIR`` (the
chart mounts the ``models`` ConfigMap there; the kubelet updates it in place). A
reference without a version means the newest in the registry.

Every ``FITTINGROOM_MODEL_POLL_S`` :class:`ModelRollout` resolves the references to
registry versions (listings only). When they differ from what is being served, it
loads a complete new stage beside the running one and swaps the handle's stage in
one assignment: a batch in progress finishes on the models it started with, the
next batch runs on the new ones, and no request waits or fails. When the new
versions fail to load, the old ones keep serving, the failure is logged and
``fittingroom_model_rollout_failed`` is 1 until a later check succeeds (the
``FittingroomModelRolloutFailed`` alert). The same versions are tried again only
after ``RETRY_FAILED_POLLS`` checks (a transient storage error heals; a corrupt
file does not make every replica reload all its models every poll); other
versions (a fixed upload, a rollback) are tried at once. Object storage being
unreachable is not a failed rollout: the check is skipped (the workers' own
``fittingroom_dependency_up`` reports the outage) and made again next time.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Protocol

from fittingroom.errors import FittingroomError, StorageUnavailableError, TransientError
from fittingroom.serving.metrics import MODEL_INFO, MODEL_ROLLOUT_FAILED, MODEL_ROLLOUTS
from fittingroom.settings import Settings

log = logging.getLogger(__name__)

MODEL_REF_SETTINGS = ("segmentation_model", "style_model", "translation_model")
# "kind/name" -> version ("" where only the model's presence matters, e.g. which style classes exist).
ModelVersions = dict[str, str]
RETRY_FAILED_POLLS = 10


class SwappableStage(Protocol):
    """What a rollout switches: the runner's ``StageHandle``, whose ``loaded`` stage every batch reads once."""

    loaded: Any


def read_model_refs(folder: Path) -> dict[str, str]:
    """The model references a refs folder sets: ``{setting: reference}`` for each non-empty file named like one."""
    refs = {}
    for name in MODEL_REF_SETTINGS:
        try:
            value = (folder / name).read_text().strip()
        except FileNotFoundError:
            continue
        if value:
            refs[name] = value
    return refs


def with_model_refs(settings: Settings) -> Settings:
    """``settings`` with the references in ``FITTINGROOM_MODEL_REFS_DIR`` applied (a bad one: ``SettingsError``)."""
    if not settings.model_refs_dir:
        return settings
    updated = dataclasses.replace(settings, **read_model_refs(Path(settings.model_refs_dir)))
    updated.validate()
    return updated


def export_model_info(service: str, versions: ModelVersions) -> None:
    """``fittingroom_model_info`` for exactly the versions being served."""
    MODEL_INFO.clear()
    for ref, version in sorted(versions.items()):
        if version:
            kind, name = ref.split("/", 1)
            MODEL_INFO.labels(service, kind, name, version).set(1)


class ModelRollout:
    """Background loop: switch a running service to the model versions its references name now."""

    def __init__(self, service: str, settings: Settings, handle: SwappableStage, serving: ModelVersions,
                 resolve: Callable[[Settings], ModelVersions], load: Callable[[Settings], Any]) -> None:
        self.service = service
        self.settings = settings
        self.handle = handle
        self.serving = serving
        self.resolve = resolve
        self.load = load
        self._stop = threading.Event()
        self._failed: tuple[ModelVersions, int] | None = None  # versions that failed to load, checks since
        MODEL_ROLLOUT_FAILED.labels(service).set(0)
        for outcome in ("switched", "failed"):
            MODEL_ROLLOUTS.labels(service, outcome)
        export_model_info(service, serving)

    def run(self) -> None:
        while not self._stop.wait(self.settings.model_poll_s):
            self.check()

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> bool:
        """One look at the references; True when the service switched to other versions."""
        try:
            settings = with_model_refs(self.settings)
            wanted = self.resolve(settings)
        except _UNAVAILABLE as exc:
            return _skipped(exc)
        except (FittingroomError, ValueError, OSError) as exc:
            return self._report_failure("cannot resolve the model references", exc, {})
        if wanted == self.serving:
            self._failed = None
            MODEL_ROLLOUT_FAILED.labels(self.service).set(0)
            return False
        if self._failed is not None and self._failed[0] == wanted and self._failed[1] < RETRY_FAILED_POLLS:
            self._failed = (wanted, self._failed[1] + 1)
            return False
        changed = {ref: version for ref, version in wanted.items() if self.serving.get(ref) != version}
        started = time.perf_counter()
        try:
            loaded = self.load(settings)
        except _UNAVAILABLE as exc:
            return _skipped(exc)
        except Exception as exc:  # noqa: BLE001 - any failure to load keeps the old models serving
            self._failed = (wanted, 0)
            return self._report_failure("new model versions failed to load; serving the previous ones", exc, changed)
        self._failed = None
        self.handle.loaded = loaded  # one assignment: the next batch runs on the new stage
        self.serving = wanted
        export_model_info(self.service, wanted)
        MODEL_ROLLOUTS.labels(self.service, "switched").inc()
        MODEL_ROLLOUT_FAILED.labels(self.service).set(0)
        log.info("switched to new model versions", extra={"models": changed,
                                                          "seconds": round(time.perf_counter() - started, 3)})
        return True

    def _report_failure(self, message: str, exc: BaseException, changed: ModelVersions) -> bool:
        MODEL_ROLLOUTS.labels(self.service, "failed").inc()
        MODEL_ROLLOUT_FAILED.labels(self.service).set(1)
        log.error(message, extra={"models": changed, "error": f"{type(exc).__name__}: {exc}"})
        return False


_UNAVAILABLE = (StorageUnavailableError, TransientError)


def _skipped(exc: BaseException) -> bool:
    log.warning("model registry unreachable; checking the model references again later",
                extra={"error": f"{type(exc).__name__}: {exc}"})
    return False
