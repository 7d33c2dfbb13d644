"""Background jobs of the files domain."""

from __future__ import annotations

from typing import Any

from parley.files.service import STORAGE_PREFIX
from parley.jobs import PermanentJobError
from parley.storage import Storage


class StoredFileDeletion:
    """Job `delete_stored_file` {storage_key}: remove the bytes of a deleted file (a missing object is fine)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def __call__(self, payload: dict[str, Any]) -> None:
        key = payload.get("storage_key")
        if not isinstance(key, str) or not key.startswith(STORAGE_PREFIX):
            raise PermanentJobError(f"not an upload's storage key: {key!r}")
        await self.storage.delete(key)
