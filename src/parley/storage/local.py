"""Local files: the twin of S3 for a single machine, under `<data dir>/files`."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread

from parley.kit.private_paths import make_private_dir, open_private_file
from parley.storage.base import StorageNotFound, UnsafeStorageKey, validate_key


class LocalStorage:
    """Objects as files below `root`. Writes go to a temporary file in the same directory, are flushed to
    disk, then renamed over the target, so a reader (or a crash) never meets half an object. Every file
    operation runs in a worker thread: a slow disk never stalls the event loop. Uploads are private: folders
    are 0700 and files 0600, so no other account on the machine can list or read them."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()

    def path_of(self, key: str) -> Path:
        """The file of `key`; a key that would resolve outside the root is refused."""
        path = (self.root / validate_key(key)).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise UnsafeStorageKey(f"storage key leads outside the storage root: {key!r}")
        return path

    async def start(self) -> None:
        # Also tightens a root an older Parley created world-readable: nothing below it is reachable then.
        await anyio.to_thread.run_sync(make_private_dir, self.root)

    async def put(self, key: str, data: bytes, *, content_type: str, owner: uuid.UUID | None = None) -> None:
        path = self.path_of(key)
        await anyio.to_thread.run_sync(_write_atomically, path, data)

    async def get(self, key: str) -> bytes:
        path = self.path_of(key)
        try:
            return await anyio.to_thread.run_sync(path.read_bytes)
        except FileNotFoundError as exc:
            raise StorageNotFound(key) from exc

    async def stream(self, key: str, *, chunk_size: int = 65536) -> AsyncIterator[bytes]:
        path = self.path_of(key)
        try:
            handle: BinaryIO = await anyio.to_thread.run_sync(path.open, "rb")
        except FileNotFoundError as exc:
            raise StorageNotFound(key) from exc
        try:
            while chunk := await anyio.to_thread.run_sync(handle.read, chunk_size):
                yield chunk
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(handle.close)

    async def delete(self, key: str) -> None:
        path = self.path_of(key)
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    async def aclose(self) -> None:
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    make_private_dir(path.parent)
    # A name no key can have (keys never start with a dot), so a stray temporary file never shadows an object.
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with os.fdopen(open_private_file(temporary), "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    # The rename itself is durable once the directory entry is on disk.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
