"""Parley's own SAML key pair: the certificate IdPs see in its SP metadata (to check signed AuthnRequests and to
encrypt assertions for Parley) and the private key that signs and decrypts.

From the settings' files when given; otherwise generated once per install into `<data_dir>/saml/` and kept, so
the SP metadata (and what administrators uploaded to their IdP) stays the same across restarts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from parley.identity.saml_config import SAMLSettings

_KEY = "sp-key.pem"
_CERT = "sp-cert.pem"
_VALID_DAYS = 3650


@dataclass(frozen=True)
class SPKeyPair:
    key_file: Path
    cert_file: Path


def sp_key_pair(settings: SAMLSettings, data_dir: Path) -> SPKeyPair:
    """The configured key pair, or the generated one of this install (made now if there is none yet)."""
    if settings.key_file is not None and settings.cert_file is not None:
        return SPKeyPair(key_file=settings.key_file, cert_file=settings.cert_file)
    home = data_dir / "saml"
    pair = SPKeyPair(key_file=home / _KEY, cert_file=home / _CERT)
    if pair.key_file.exists() and pair.cert_file.exists():
        return pair
    data_dir.mkdir(parents=True, exist_ok=True)
    # Written in a scratch directory and renamed into place in one step: replicas sharing a data dir that start
    # together end up with the same pair (a rename onto an existing directory fails, and the loser uses it).
    scratch = Path(tempfile.mkdtemp(prefix=".saml-", dir=data_dir))
    try:
        _write_pair(scratch)
        try:
            scratch.rename(home)
        except OSError:
            if not (pair.key_file.exists() and pair.cert_file.exists()):
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return pair


def _write_pair(directory: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Parley SAML service provider")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=_VALID_DAYS))
        .sign(key, hashes.SHA256())
    )
    key_path = directory / _KEY
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    (directory / _CERT).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
