"""Where uploaded bytes live: local files under the data dir, or an S3 bucket (any S3-API server)."""

from parley.storage.base import Storage, StorageError, StorageNotFound, UnsafeStorageKey, validate_key
from parley.storage.factory import create_storage, open_storage

__all__ = [
    "Storage",
    "StorageError",
    "StorageNotFound",
    "UnsafeStorageKey",
    "create_storage",
    "open_storage",
    "validate_key",
]
