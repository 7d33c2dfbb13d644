"""The Storage protocol every backend implements, and the key rules they share."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

# Keys are made by Parley (from ids), never by users; the rule still refuses anything that could leave the
# storage root: absolute paths, `.`/`..` segments, empty segments, backslashes, control characters.
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$")
MAX_KEY_LENGTH = 400


class StorageError(Exception):
    """A storage backend failed (unreachable, refused); not a client error."""


class StorageNotFound(StorageError):
    """No object is stored under this key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no stored object under {key!r}")
        self.key = key


class UnsafeStorageKey(ValueError):
    """A key that is not a plain relative `a/b/c` path (a bug in the caller, never user input)."""


def validate_key(key: str) -> str:
    """Return `key` when it is a safe relative key (`a/b/c`), else raise UnsafeStorageKey."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise UnsafeStorageKey("storage key must be 1 to 400 characters")
    segments = key.split("/")
    if not all(_SEGMENT.match(segment) and segment not in (".", "..") for segment in segments):
        raise UnsafeStorageKey(f"unsafe storage key: {key!r}")
    return key


@runtime_checkable
class Storage(Protocol):
    """A flat key → bytes store. Keys are `validate_key`-safe; every call is non-blocking for the event loop."""

    name: str

    async def put(self, key: str, data: bytes, *, content_type: str, owner: uuid.UUID | None = None) -> None:
        """Store `data` under `key`, replacing any previous object; readers never see a partial object. `owner`:
        the user whose data key seals the bytes (`EncryptedStorage`; None: the system's); the plain backends
        store what they are given."""
        ...

    async def get(self, key: str) -> bytes:
        """The whole object; raises StorageNotFound when there is none."""
        ...

    def stream(self, key: str, *, chunk_size: int = 65536) -> AsyncIterator[bytes]:
        """The object in chunks of at most `chunk_size` bytes; raises StorageNotFound (on the first
        iteration) when there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing key is not an error."""
        ...

    async def aclose(self) -> None:
        """Release connections and threads."""
        ...
