"""The pseudonym an erased account leaves behind: a keyed hash (HMAC-SHA256) of its id under a key the database
never holds. The audit trail names the erasure by it, and the account's usage rows are kept under it for billing;
whoever holds the key can check whether a given account id was erased, nobody else can tell whose it was."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from pathlib import Path

from parley.config import GdprSettings

_KEY_FILE = "tombstone-key"
_LABEL = b"parley-erasure-tombstone:"
ERASED_EMAIL_DOMAIN = "erased.invalid"


class Tombstones:
    """Names erased accounts. Deterministic: the same account id always gives the same tombstone."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_settings(cls, settings: GdprSettings, data_dir: Path) -> Tombstones:
        return cls(load_or_create_key(settings, data_dir))

    def subject(self, user_id: uuid.UUID) -> str:
        """The keyed hash of an account id (hex): what the audit trail records of an erased account."""
        return hmac.new(self._key, _LABEL + user_id.bytes, hashlib.sha256).hexdigest()

    def user_id(self, user_id: uuid.UUID) -> uuid.UUID:
        """The id of the tombstone account (a UUID made of the keyed hash's first 16 bytes, version 4 bits set)."""
        return uuid.UUID(bytes=bytes.fromhex(self.subject(user_id))[:16], version=4)

    def email(self, user_id: uuid.UUID) -> str:
        """The tombstone account's placeholder address (unique, undeliverable: `.invalid`)."""
        return f"erased-{self.subject(user_id)[:32]}@{ERASED_EMAIL_DOMAIN}"


def load_or_create_key(settings: GdprSettings, data_dir: Path) -> bytes:
    """The key from settings, else one generated on first start and kept (mode 0600) in the data dir."""
    if settings.tombstone_key is not None:
        return settings.tombstone_key.get_secret_value().encode()
    path = data_dir / _KEY_FILE
    if path.exists():
        return path.read_text().strip().encode()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once keep whichever key was written first.
    try:
        with path.open("x") as handle:
            path.chmod(0o600)
            handle.write(key)
    except FileExistsError:
        return path.read_text().strip().encode()
    return key.encode()
