"""A throwaway certificate authority and one certificate per service, for local stacks and tests.

Never for production (the chart takes certificates from a Secret or cert-manager):
the CA's key sits next to the certificates it signed. Each service's certificate
serves its gRPC port and authenticates it as a client (mutual TLS), for the
loopback names the local stack dials.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOCAL_NAMES = ("localhost", "127.0.0.1")
VALID_DAYS = 30


@dataclass(frozen=True)
class TlsFiles:
    """Paths of one party's PEM certificate and key, and of the CA that signed every party's."""

    cert: Path
    key: Path
    ca: Path

    def env(self) -> dict[str, str]:
        """The ``FITTINGROOM_TLS_*`` variables that point a process at these files."""
        return {"FITTINGROOM_TLS_CERT": str(self.cert), "FITTINGROOM_TLS_KEY": str(self.key),
                "FITTINGROOM_TLS_CA": str(self.ca)}


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _alt_names(names: tuple[str, ...]) -> x509.SubjectAlternativeName:
    def one(name: str) -> x509.GeneralName:
        try:
            return x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            return x509.DNSName(name)

    return x509.SubjectAlternativeName([one(name) for name in names])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _builder(subject: str, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS)))


def write_local_pki(folder: Path, parties: tuple[str, ...], names: tuple[str, ...] = LOCAL_NAMES) -> dict[str, TlsFiles]:
    """A new CA in ``folder`` and a certificate for each of ``parties``, valid for ``names``; their files."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (_builder("fittingroom local CA", _name("fittingroom local CA"), ca_key.public_key())
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                            content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False,
                                            encipher_only=False, decipher_only=False), critical=True)
               .sign(ca_key, hashes.SHA256()))
    ca_path = folder / "ca.crt"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(folder / "ca.key", ca_key)
    return {party: _issue(folder, party, names, ca_cert, ca_key, ca_path) for party in parties}


def _issue(folder: Path, party: str, names: tuple[str, ...], ca_cert: x509.Certificate,
           ca_key: ec.EllipticCurvePrivateKey, ca_path: Path) -> TlsFiles:
    """One party's key and certificate, for server and client auth."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_builder(party, ca_cert.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_alt_names((party, *names)), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = TlsFiles(cert=folder / f"{party}.crt", key=folder / f"{party}.key", ca=ca_path)
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(files.key, key)
    return files
