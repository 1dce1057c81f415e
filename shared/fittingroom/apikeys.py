"""Shop API keys: who a caller is, from a key file that holds only hashes.

The file has one ``tenant:sha256-hex`` line per key (a tenant may hold several,
to rotate). Keys are 32 random bytes, shown once when made and never stored;
the gateway re-reads the file whenever it changes, so removing a line revokes
a key without a restart. Tenant names go into request ids and object keys
(``requests/<tenant>/<id>/…``), so they are short, lower-case and slash-free.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
from pathlib import Path

from fittingroom.errors import SettingsError, UnauthenticatedError

TENANT_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
ANONYMOUS_TENANT = "public"


def check_tenant(tenant: str) -> str:
    """``tenant`` if it is a valid name, else SettingsError."""
    if not TENANT_PATTERN.fullmatch(tenant):
        raise SettingsError(f"tenant {tenant!r}: expected 1-63 of a-z, 0-9 and '-', starting with a letter or digit")
    return tenant


def hash_key(key: str) -> str:
    """The sha256 hex digest stored for ``key``."""
    return hashlib.sha256(key.encode()).hexdigest()


def parse_key_file(text: str) -> dict[str, str]:
    """hash → tenant from the file's ``tenant:hash`` lines (blank lines and ``#`` comments skipped)."""
    hashes: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        tenant, _, digest = line.partition(":")
        if not TENANT_PATTERN.fullmatch(tenant) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise SettingsError(f"API key file line {number}: expected 'tenant:<sha256 hex>'")
        hashes[digest] = tenant
    return hashes


def add_key(path: Path, tenant: str) -> str:
    """Make a new key for ``tenant``, append its hash to ``path`` (mode 600) and return the key."""
    key = secrets.token_urlsafe(32)
    lines = path.read_text().splitlines() if path.exists() else []
    _write_lines(path, [*lines, f"{check_tenant(tenant)}:{hash_key(key)}"])
    return key


def revoke_tenant(path: Path, tenant: str) -> int:
    """Remove every key of ``tenant`` from ``path``; returns how many were removed."""
    lines = path.read_text().splitlines() if path.exists() else []
    kept = [line for line in lines if line.partition(":")[0].strip() != tenant]
    _write_lines(path, kept)
    return len(lines) - len(kept)


def _write_lines(path: Path, lines: list[str]) -> None:
    """Replace ``path`` atomically, so a gateway never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text("".join(f"{line}\n" for line in lines))
    partial.chmod(0o600)
    partial.replace(path)


class ApiKeys:
    """Tenant of a key, from a key file re-read whenever it changes (revocation needs no restart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._version: tuple[int, int, int] | None = None
        self._hashes: dict[str, str] = {}
        self._refresh()

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            raise SettingsError(f"API key file {self.path} does not exist") from None
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if version != self._version:
            self._hashes = parse_key_file(self.path.read_text())
            self._version = version

    def tenant_of(self, key: str) -> str:
        """The tenant holding ``key``; UnauthenticatedError for a missing, unknown or revoked key."""
        if not key:
            raise UnauthenticatedError("no API key: send 'authorization: Bearer <key>'")
        with self._lock:
            self._refresh()
            tenant = self._hashes.get(hash_key(key))  # the lookup sees only a hash: no timing hint about keys
        if tenant is None:
            raise UnauthenticatedError("unknown or revoked API key")
        return tenant
