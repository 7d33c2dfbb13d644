"""Choosing the storage backend from settings."""

from __future__ import annotations

from parley.config import Settings
from parley.crypto.keyring import Crypto
from parley.storage.base import Storage
from parley.storage.encrypted import EncryptedStorage
from parley.storage.local import LocalStorage


def create_storage(settings: Settings) -> Storage:
    """S3 when a bucket is set (the deployment's region's, `PARLEY_S3__BUCKETS`, else `PARLEY_S3__BUCKET`), else
    local files under `<data dir>/files`. Both open lazily."""
    s3_settings = settings.s3.for_region(settings.region)
    if s3_settings.bucket:
        # Imported only here: a single-machine Parley never loads boto.
        from parley.storage.s3 import S3Storage

        return S3Storage(s3_settings)
    return LocalStorage(settings.resolved_data_dir / "files")


async def open_storage(settings: Settings, *, crypto: Crypto | None = None) -> Storage:
    """The configured storage, checked usable: the local directory exists, the S3 bucket answers (else a
    StartupError saying what to fix). With `crypto`, what it stores is sealed with its owners' data keys
    (`EncryptedStorage`; README, "Encryption at rest")."""
    backend = await _open_backend(settings)
    if crypto is None:
        return backend
    return EncryptedStorage(backend, crypto, seal=settings.crypto.seal_files)


async def _open_backend(settings: Settings) -> Storage:
    s3_settings = settings.s3.for_region(settings.region)
    if s3_settings.bucket:
        from parley.storage.s3 import S3Storage

        s3 = S3Storage(s3_settings)
        try:
            await s3.start()
        except BaseException:
            await s3.aclose()
            raise
        return s3
    local = LocalStorage(settings.resolved_data_dir / "files")
    await local.start()
    return local
