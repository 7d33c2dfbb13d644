"""The Ed25519 key that signs audit checkpoints.

By default a PEM (PKCS#8) file under the data dir, `audit-signing-key.pem`, created owner-only (0600) on first
start; `PARLEY_AUDIT__SIGNING_KEY_FILE` points at another one (replicas that share no data dir mount the same
key, e.g. from a Kubernetes secret). The public half is stored with every checkpoint; `parley audit verify`
trusts the public half of the local key file and the keys it is given (`--public-key`,
`PARLEY_AUDIT__TRUSTED_PUBLIC_KEYS`), so a checkpoint an intruder signed with a key of their own is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from parley.audit.settings import AuditSettings
from parley.kit.private_paths import make_private_dir, open_private_file

DEFAULT_KEY_FILE_NAME = "audit-signing-key.pem"


class SigningKeyError(Exception):
    """The signing key file exists but cannot be used (unreadable, not an Ed25519 private key)."""


@dataclass(frozen=True)
class CheckpointSigner:
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> str:
        """The raw public key, hex."""
        return public_key_hex(self.private_key.public_key())

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def sign(self, message: bytes) -> str:
        return self.private_key.sign(message).hex()


def public_key_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def key_id(public_key: str) -> str:
    """A short name of a public key: the first 16 hex digits of SHA-256 over its raw bytes."""
    return hashlib.sha256(bytes.fromhex(public_key)).hexdigest()[:16]


def signature_is_valid(public_key: str, message: bytes, signature: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key)).verify(bytes.fromhex(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def load_signer(path: Path) -> CheckpointSigner | None:
    """The signer of the key file at `path`, or None when there is none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SigningKeyError(f"cannot read the audit signing key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        raise SigningKeyError(f"{path} is not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 private key")
    return CheckpointSigner(key)


def signer_from_text(value: str) -> CheckpointSigner:
    """A signer from a key given as text: a PEM private key, or 64 hex digits (the raw 32-byte private key)."""
    candidate = value.strip()
    if len(candidate) == 64:
        try:
            return CheckpointSigner(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(candidate)))
        except ValueError as exc:
            raise SigningKeyError("PARLEY_AUDIT__SIGNING_KEY is not 64 hex digits nor a PEM key") from exc
    try:
        key = serialization.load_pem_private_key(candidate.encode(), password=None)
    except ValueError as exc:
        raise SigningKeyError("PARLEY_AUDIT__SIGNING_KEY is not 64 hex digits nor a PEM key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError("PARLEY_AUDIT__SIGNING_KEY is not an Ed25519 key")
    return CheckpointSigner(key)


def configured_signer(settings: AuditSettings, data_dir: Path) -> CheckpointSigner:
    """The signer the settings name: `signing_key` if set, else the key file (created when missing)."""
    if settings.signing_key is not None:
        return signer_from_text(settings.signing_key.get_secret_value())
    return load_or_create_signer(settings.key_file(data_dir))


def existing_signer(settings: AuditSettings, data_dir: Path) -> CheckpointSigner | None:
    """`configured_signer` without creating anything: None when no key is set and the key file is missing."""
    if settings.signing_key is not None:
        return signer_from_text(settings.signing_key.get_secret_value())
    return load_signer(settings.key_file(data_dir))


def load_or_create_signer(path: Path) -> CheckpointSigner:
    """The signer of the key file at `path`, creating the key (0600) when there is none. Processes starting
    together agree: the file is created exclusively, and the loser of that race reads the winner's key."""
    signer = load_signer(path)
    if signer is not None:
        return signer
    if not path.parent.exists():
        # Only a folder made for the key is made owner-only here: the data dir itself (the default's place) keeps
        # its mode, which run as root is 0711 so that the embedded PostgreSQL's own account can pass through to
        # its files; at 0700 that server can no longer read its configuration and PANICs when it stops.
        make_private_dir(path.parent)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    descriptor = open_private_file(partial)
    try:
        os.write(descriptor, pem)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    try:
        # link() fails if another process created the key meanwhile: theirs is kept.
        os.link(partial, path)
    except FileExistsError:
        pass
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    loaded = load_signer(path)
    if loaded is None:  # pragma: no cover - removed between link and read
        raise SigningKeyError(f"the audit signing key {path} vanished while it was created")
    return loaded


def read_public_key(value: str) -> str:
    """A trusted key given on the command line or in settings: raw hex, or a PEM file (public or private)."""
    candidate = value.strip()
    if len(candidate) == 64:
        with contextlib.suppress(ValueError):
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(candidate))
            return candidate.lower()
    path = Path(candidate).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"{value!r} is neither a hex Ed25519 public key nor a readable key file") from exc
    try:
        public = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except ValueError as exc:
            raise SigningKeyError(f"{path} holds no PEM key") from exc
        if not isinstance(private, Ed25519PrivateKey):
            raise SigningKeyError(f"{path} is not an Ed25519 key") from None
        return public_key_hex(private.public_key())
    if not isinstance(public, Ed25519PublicKey):
        raise SigningKeyError(f"{path} is not an Ed25519 key")
    return public_key_hex(public)
