"""Object storage behind one interface: a local folder now, MinIO for the services.

Keys are '/'-separated paths (``models/style/colour-pattern/v1/manifest.json``).
Everything that persists bytes — model registry, request blobs, results — goes
through :class:`ObjectStore`, so embedded and distributed modes share code.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from stat import S_ISREG
from typing import Protocol

from fittingroom.errors import ObjectNotFoundError



class ObjectStore(Protocol):
    """Minimal blob store used by the registry and the pipeline.

    ``bucket`` names the bucket (MinIO) or folder (local) the store writes to; it is
    what object references record.
    """

    bucket: str

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def size(self, key: str) -> int:
        """Bytes stored under ``key``, from metadata (nothing is downloaded); ``ObjectNotFoundError`` if none.

        Readers check it against their cap before they call :meth:`get`.
        """
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> list[str]: ...

    def describe(self) -> str: ...


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid object key '{key}'")
    return key


class LocalFolderStore:
    """An :class:`ObjectStore` in a local folder; writes are atomic renames."""

    def __init__(self, root: str | os.PathLike[str], read_only: bool = False) -> None:
        self.root = Path(root)
        self.read_only = read_only
        self.bucket = self.root.name

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_check_key(key).split("/"))

    def put(self, key: str, data: bytes) -> None:
        if self.read_only:
            raise PermissionError(f"store {self.root} is read-only")
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ObjectNotFoundError(key) from None

    def size(self, key: str) -> int:
        path = self._path(key)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise ObjectNotFoundError(key) from None
        if not S_ISREG(stat.st_mode):
            raise ObjectNotFoundError(key)
        return stat.st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        keys = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def describe(self) -> str:
        return f"folder:{self.root}"


class MemoryStore:
    """An :class:`ObjectStore` in process memory (the embedded pipeline's request objects)."""

    def __init__(self, bucket: str = "memory") -> None:
        self.bucket = bucket
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._objects[_check_key(key)] = bytes(data)

    def get(self, key: str) -> bytes:
        with self._lock:
            try:
                return self._objects[_check_key(key)]
            except KeyError:
                raise ObjectNotFoundError(key) from None

    def size(self, key: str) -> int:
        with self._lock:
            try:
                return len(self._objects[_check_key(key)])
            except KeyError:
                raise ObjectNotFoundError(key) from None

    def exists(self, key: str) -> bool:
        with self._lock:
            return _check_key(key) in self._objects

    def list(self, prefix: str = "") -> list[str]:
        with self._lock:
            return sorted(k for k in self._objects if k.startswith(prefix))

    def delete_prefix(self, prefix: str) -> int:
        """Forget every object under ``prefix`` (a finished request's); returns how many."""
        with self._lock:
            doomed = [k for k in self._objects if k.startswith(prefix)]
            for key in doomed:
                del self._objects[key]
            return len(doomed)

    def describe(self) -> str:
        return f"memory:{self.bucket}"
