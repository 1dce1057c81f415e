"""gRPC credentials from the TLS settings: servers, the gateway's stage channels, and clients.

Stage services require a client certificate signed by the CA (only the gateway
holds one); the gateway's public port requires TLS but no client certificate
(shops authenticate with API keys).
"""

from __future__ import annotations

from pathlib import Path

import grpc

from fittingroom.settings import Settings


def _read(path: str) -> bytes:
    return Path(path).expanduser().read_bytes()


def server_credentials(settings: Settings, require_client_cert: bool) -> grpc.ServerCredentials | None:
    """TLS credentials for a gRPC server, ``None`` for (explicit) plaintext."""
    if settings.tls_files is None:
        return None
    cert, key, ca = settings.tls_files
    return grpc.ssl_server_credentials([(_read(key), _read(cert))], root_certificates=_read(ca),
                                       require_client_auth=require_client_cert)


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """TLS credentials for calling a service: verify it with the CA and present our certificate, if we have one.

    ``None`` (plaintext) when no CA is set. A shop's client needs only the CA; the
    gateway presents its certificate to the stage services, which require one.
    """
    if not settings.tls_ca:
        return None
    if settings.tls_files is None:
        return grpc.ssl_channel_credentials(root_certificates=_read(settings.tls_ca))
    cert, key, ca = settings.tls_files
    return grpc.ssl_channel_credentials(root_certificates=_read(ca), private_key=_read(key),
                                        certificate_chain=_read(cert))


def open_channel(address: str, settings: Settings, options: list[tuple[str, object]] | None = None) -> grpc.Channel:
    """A TLS channel when the settings name a CA, else a plaintext one."""
    credentials = channel_credentials(settings)
    if credentials is None:
        return grpc.insecure_channel(address, options=options)
    return grpc.secure_channel(address, credentials, options=options)
