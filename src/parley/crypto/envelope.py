"""The sealed-value format and the in-memory data key that seals and opens values (AES-256-GCM).

A sealed value (version 1) is:

    0x01 | data key id (16 bytes) | nonce (12 bytes) | ciphertext | GCM tag (16 bytes)

45 bytes more than the plaintext. The associated data binds it to its key, its owner and its place: the caller's
`context` (e.g. `messages.content:<message id>`), so a value copied to another row, column or user does not open.
The key id lets a value name the key that sealed it, so a key that was destroyed (crypto-erase) is recognised as
such, and a future key of the same owner never opens (or is tried on) an older value.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from collections.abc import Iterable
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from parley.crypto.errors import SealedValueInvalid

VERSION: Final = 1
_HEADER = 1 + 16 + 12
OVERHEAD: Final = _HEADER + 16
KEY_BYTES: Final = 32
_NO_OWNER = bytes(16)
_AAD_PREFIX = b"parley-seal-v1\x00"
_INDEX_INFO = b"parley-blind-index-v1"
_INDEX_TOKEN_BYTES = 16

Owner = uuid.UUID | None
"""Whose data key seals a value: a user's id, or None for the system's key (data no user owns)."""


def context_of(table: str, column: str, row_id: uuid.UUID | str) -> str:
    """The usual sealing context: the value's table, column and row (`messages.content:<id>`)."""
    return f"{table}.{column}:{row_id}"


def key_id_of(sealed: bytes) -> uuid.UUID:
    """The id of the data key that sealed `sealed` (SealedValueInvalid when it is not a sealed value)."""
    if len(sealed) < OVERHEAD or sealed[0] != VERSION:
        raise SealedValueInvalid("not a sealed value (or one of an unknown version)")
    return uuid.UUID(bytes=sealed[1:17])


class SealingKey:
    """One owner's unwrapped data key. It seals and opens values without I/O (a few microseconds for a chat
    message), so a caller holding it (one fetch per request) pays no round trip per value. Its bytes are never
    shown: not in `repr`, logs or tracebacks' locals of callers."""

    __slots__ = ("_aead", "_index_key", "id", "owner")

    def __init__(self, key_id: uuid.UUID, owner: Owner, material: bytes) -> None:
        if len(material) != KEY_BYTES:
            raise ValueError("a data key is 32 bytes (AES-256)")
        self.id = key_id
        self.owner = owner
        self._aead = AESGCM(material)
        # The blind index's own key, derived (HKDF-SHA256) so no hash of it relates to what the AEAD key seals.
        self._index_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INDEX_INFO).derive(material)

    def __repr__(self) -> str:
        return f"SealingKey(id={self.id}, owner={self.owner})"

    def _aad(self, context: str | bytes) -> bytes:
        owner = self.owner.bytes if self.owner is not None else _NO_OWNER
        place = context.encode() if isinstance(context, str) else context
        return _AAD_PREFIX + self.id.bytes + owner + place

    def seal(self, plaintext: bytes, *, context: str | bytes) -> bytes:
        """`plaintext` sealed for `context` (its table, column and row: `context_of`)."""
        nonce = os.urandom(12)
        header = bytes((VERSION,)) + self.id.bytes + nonce
        return header + self._aead.encrypt(nonce, plaintext, self._aad(context))

    def open(self, sealed: bytes, *, context: str | bytes) -> bytes:
        """The plaintext of a value this key sealed for `context`; SealedValueInvalid when it was sealed by
        another key, for another place, or changed since."""
        if key_id_of(sealed) != self.id:
            raise SealedValueInvalid("the value was sealed with another data key")
        try:
            return self._aead.decrypt(sealed[17:_HEADER], sealed[_HEADER:], self._aad(context))
        except InvalidTag as exc:
            raise SealedValueInvalid("the sealed value does not open here (altered, or another place's)") from exc

    def seal_text(self, text: str, *, context: str | bytes) -> bytes:
        return self.seal(text.encode(), context=context)

    def open_text(self, sealed: bytes, *, context: str | bytes) -> str:
        return self.open(sealed, context=context).decode()

    def blind(self, term: str, *, purpose: str = "words") -> bytes:
        """A blind-index token for `term`: HMAC-SHA256 (truncated to 16 bytes) under a key derived from this data
        key, for finding sealed rows by exact term (e.g. a stemmed word) without storing the term. Equal terms of
        one owner and purpose give equal tokens; another owner's (or a crypto-erased) key gives unrelated ones."""
        message = purpose.encode() + b"\x00" + term.encode()
        return hmac.new(self._index_key, message, hashlib.sha256).digest()[:_INDEX_TOKEN_BYTES]

    def blind_many(self, terms: Iterable[str], *, purpose: str = "words") -> list[bytes]:
        """`blind` of many terms (a message's words): the HMAC's keyed state is computed once and copied per term,
        about half the time of one `blind` call per term."""
        keyed = hmac.new(self._index_key, purpose.encode() + b"\x00", hashlib.sha256)
        tokens: list[bytes] = []
        for term in terms:
            mac = keyed.copy()
            mac.update(term.encode())
            tokens.append(mac.digest()[:_INDEX_TOKEN_BYTES])
        return tokens

    def aead(self) -> AESGCM:
        """The raw AEAD, for the chunked file format (`crypto.streams`) only."""
        return self._aead
