"""Encryption at rest for stored files: every backend's bytes sealed with their owner's data key
(`parley.crypto.streams`), in chunks, so downloads stream and a file of a crypto-erased user no longer opens
wherever a copy of it is (the bucket's versions, replicas, backups).

The owner is named when the bytes are written; the sealed bytes name the data key that sealed them, so reading
needs no owner. Bytes stored before encryption at rest carry no seal and are read as they are.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread

from parley.crypto import streams
from parley.crypto.keyring import Crypto
from parley.storage.base import Storage

# Sealing or opening more than this runs in a worker thread (about 0.5 ms of AES-GCM), not on the event loop.
_INLINE_BYTES = 1 << 20


class EncryptedStorage:
    """A `Storage` that seals what it writes to `inner` and opens what it reads from it."""

    def __init__(
        self, inner: Storage, crypto: Crypto, *, chunk_size: int = streams.DEFAULT_CHUNK_BYTES, seal: bool = True
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self._crypto = crypto
        self._chunk_size = chunk_size
        # False (PARLEY_CRYPTO__SEAL_FILES) only during an upgrade from a release that cannot open sealed files.
        self._seal = seal

    def __repr__(self) -> str:
        return f"EncryptedStorage({self.inner!r})"

    def __getattr__(self, name: str) -> Any:
        # What only one backend has (the local one's `root` and `path_of`) is the backend's.
        return getattr(self.inner, name)

    async def put(self, key: str, data: bytes, *, content_type: str, owner: uuid.UUID | None = None) -> None:
        """Seal `data` with `owner`'s data key (None: the system's) and store it under `key`."""
        if not self._seal:
            await self.inner.put(key, data, content_type=content_type)
            return
        sealing_key = await self._crypto.key_for(owner)
        if len(data) > _INLINE_BYTES:
            sealed = await anyio.to_thread.run_sync(
                lambda: streams.seal_file(sealing_key, data, context=key, chunk_size=self._chunk_size)
            )
        else:
            sealed = streams.seal_file(sealing_key, data, context=key, chunk_size=self._chunk_size)
        await self.inner.put(key, sealed, content_type=content_type)

    async def get(self, key: str) -> bytes:
        stored = await self.inner.get(key)
        if not streams.is_sealed(stored):
            return stored
        header = streams.Header(stored)
        sealing_key = await self._crypto.key_by_id(header.key_id)
        if len(stored) > _INLINE_BYTES:
            return await anyio.to_thread.run_sync(lambda: streams.open_file(sealing_key, stored, context=key))
        return streams.open_file(sealing_key, stored, context=key)

    async def stream(self, key: str, *, chunk_size: int = 65536) -> AsyncIterator[bytes]:
        chunks = self.inner.stream(key, chunk_size=max(chunk_size, self._chunk_size))
        head = bytearray()
        try:
            async for chunk in chunks:
                head += chunk
                if len(head) >= streams.HEADER_BYTES:
                    break
            if not streams.is_sealed(bytes(head)):
                # Stored before encryption at rest: as it is.
                for piece in _pieces(bytes(head), chunk_size):
                    yield piece
                async for chunk in chunks:
                    for piece in _pieces(chunk, chunk_size):
                        yield piece
                return
            header = streams.Header(bytes(head))
            opener = streams.FileOpener(await self._crypto.key_by_id(header.key_id), header, context=key)
            for plain in opener.feed(bytes(head[streams.HEADER_BYTES :])):
                for piece in _pieces(plain, chunk_size):
                    yield piece
            async for chunk in chunks:
                for plain in opener.feed(chunk):
                    for piece in _pieces(plain, chunk_size):
                        yield piece
            for piece in _pieces(opener.finish(), chunk_size):
                yield piece
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _pieces(data: bytes, size: int) -> list[bytes]:
    if len(data) <= size:
        return [data] if data else []
    return [data[start : start + size] for start in range(0, len(data), size)]
