"""Who is calling the gateway: the tenant behind the ``authorization: Bearer <key>`` metadata."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

from fittingroom.apikeys import ANONYMOUS_TENANT, ApiKeys
from fittingroom.errors import SettingsError
from fittingroom.settings import PREFIX, Settings

log = logging.getLogger(__name__)
BEARER = "bearer "


def bearer_key(metadata: Iterable[tuple[str, str | bytes]]) -> str:
    """The key of the call's ``authorization: Bearer <key>`` header, "" when there is none."""
    for name, value in metadata:
        if name.lower() == "authorization" and isinstance(value, str) and value.lower().startswith(BEARER):
            return value[len(BEARER):].strip()
    return ""


class Authenticator:
    """Tenant of a call: from its API key, or the anonymous tenant when keys are switched off explicitly."""

    def __init__(self, keys: ApiKeys | None) -> None:
        self.keys = keys

    def tenant(self, metadata: Iterable[tuple[str, str | bytes]]) -> str:
        """The caller's tenant; UnauthenticatedError for a missing, unknown or revoked key."""
        if self.keys is None:
            return ANONYMOUS_TENANT
        return self.keys.tenant_of(bearer_key(metadata))


def authenticator(settings: Settings) -> Authenticator:
    """The gateway's authenticator; refuses to build one with no key file unless anonymous calls are allowed."""
    if settings.api_keys_file:
        return Authenticator(ApiKeys(Path(settings.api_keys_file).expanduser()))
    if not settings.allow_anonymous:
        raise SettingsError(f"the gateway needs {PREFIX}API_KEYS_FILE (shop API keys), or "
                            f"{PREFIX}ALLOW_ANONYMOUS=true to serve every caller as tenant {ANONYMOUS_TENANT!r}")
    log.warning("no API keys: every caller is served as the anonymous tenant", extra={"tenant": ANONYMOUS_TENANT})
    return Authenticator(None)
