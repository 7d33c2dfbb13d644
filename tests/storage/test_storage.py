"""The storage contract, run against both twins (local files and S3): what goes in comes out byte for byte,
missing objects are reported as such, and no key can reach outside the storage."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import boto3
import pytest
from pydantic import SecretStr

from parley.config import S3Settings, Settings
from parley.db import StartupError
from parley.storage import Storage, StorageNotFound, UnsafeStorageKey, create_storage, open_storage
from parley.storage.local import LocalStorage
from parley.storage.s3 import S3Storage
from tests.storage.conftest import S3_KEY_ID, S3_SECRET, s3_settings

EVERY_BYTE = bytes(range(256)) * 1000  # 256 kB with every byte value, including NUL and CR/LF

UNSAFE_KEYS = ["../escape", "a/../../escape", "/etc/passwd", "", "a//b", "a\\b", ".hidden", "a/./b", "a/\x00b"]


def _key() -> str:
    return f"uploads/{uuid.uuid4()}"


class TestRoundTrip:
    async def test_put_then_get_returns_identical_bytes(self, storage: Storage):
        key = _key()
        await storage.put(key, EVERY_BYTE, content_type="application/octet-stream")
        assert await storage.get(key) == EVERY_BYTE

    async def test_stream_yields_bounded_chunks_that_join_to_the_object(self, storage: Storage):
        key = _key()
        await storage.put(key, EVERY_BYTE, content_type="application/pdf")
        chunks = [chunk async for chunk in storage.stream(key, chunk_size=10_000)]
        assert b"".join(chunks) == EVERY_BYTE
        assert len(chunks) >= 26 and all(0 < len(chunk) <= 10_000 for chunk in chunks)

    async def test_put_replaces_the_previous_object(self, storage: Storage):
        key = _key()
        await storage.put(key, b"first version", content_type="text/plain")
        await storage.put(key, b"second", content_type="text/plain")
        assert await storage.get(key) == b"second"

    async def test_empty_object_round_trips(self, storage: Storage):
        key = _key()
        await storage.put(key, b"", content_type="text/plain")
        assert await storage.get(key) == b""


class TestMissingAndDelete:
    async def test_get_of_a_missing_key_raises_not_found(self, storage: Storage):
        with pytest.raises(StorageNotFound):
            await storage.get(_key())

    async def test_stream_of_a_missing_key_raises_not_found(self, storage: Storage):
        with pytest.raises(StorageNotFound):
            async for _ in storage.stream(_key()):
                pass

    async def test_delete_removes_the_object(self, storage: Storage):
        key = _key()
        await storage.put(key, b"bytes", content_type="text/plain")
        await storage.delete(key)
        with pytest.raises(StorageNotFound):
            await storage.get(key)

    async def test_deleting_a_missing_key_is_not_an_error(self, storage: Storage):
        await storage.delete(_key())

    async def test_objects_are_independent(self, storage: Storage):
        first, second = _key(), _key()
        await storage.put(first, b"one", content_type="text/plain")
        await storage.put(second, b"two", content_type="text/plain")
        await storage.delete(first)
        assert await storage.get(second) == b"two"


class TestUnsafeKeys:
    @pytest.mark.parametrize("key", UNSAFE_KEYS, ids=repr)
    async def test_every_operation_refuses_an_unsafe_key(self, storage: Storage, key: str):
        with pytest.raises(UnsafeStorageKey):
            await storage.put(key, b"x", content_type="text/plain")
        with pytest.raises(UnsafeStorageKey):
            await storage.get(key)
        with pytest.raises(UnsafeStorageKey):
            await storage.delete(key)
        with pytest.raises(UnsafeStorageKey):
            async for _ in storage.stream(key):
                pass


class TestLocalFiles:
    async def test_objects_live_under_the_root_and_no_temporary_file_is_left(self, tmp_path: Path):
        storage = LocalStorage(tmp_path / "files")
        await storage.start()
        await storage.put("uploads/abc", b"content", content_type="text/plain")
        files = [p for p in (tmp_path / "files").rglob("*") if p.is_file()]
        assert files == [tmp_path / "files" / "uploads" / "abc"]

    async def test_a_traversal_key_writes_nothing_outside_the_root(self, tmp_path: Path):
        storage = LocalStorage(tmp_path / "files")
        await storage.start()
        with pytest.raises(UnsafeStorageKey):
            await storage.put("../outside", b"x", content_type="text/plain")
        assert not (tmp_path / "outside").exists()

    async def test_a_symlinked_directory_cannot_lead_outside_the_root(self, tmp_path: Path):
        storage = LocalStorage(tmp_path / "files")
        await storage.start()
        (tmp_path / "elsewhere").mkdir()
        os.symlink(tmp_path / "elsewhere", tmp_path / "files" / "link")
        with pytest.raises(UnsafeStorageKey):
            await storage.put("link/x", b"x", content_type="text/plain")
        assert list((tmp_path / "elsewhere").iterdir()) == []

    async def test_stored_uploads_are_owner_only_whatever_the_umask(self, tmp_path: Path):
        previous = os.umask(0o022)  # the usual default, which made files -rw-r--r-- in 0755 folders
        try:
            storage = LocalStorage(tmp_path / "data" / "files")
            await storage.start()
            await storage.put("uploads/abc", b"secret report", content_type="text/plain")
        finally:
            os.umask(previous)
        modes = {
            path.relative_to(tmp_path).as_posix(): path.stat().st_mode & 0o777
            for path in [tmp_path / "data", *sorted((tmp_path / "data").rglob("*"))]
        }
        assert modes == {
            "data": 0o700,
            "data/files": 0o700,
            "data/files/uploads": 0o700,
            "data/files/uploads/abc": 0o600,
        }

    async def test_a_root_left_world_readable_by_an_older_version_is_tightened_at_start(self, tmp_path: Path):
        (tmp_path / "files" / "uploads").mkdir(parents=True)
        os.chmod(tmp_path / "files", 0o755)  # noqa: S103 - the old, too open mode this test starts from
        storage = LocalStorage(tmp_path / "files")
        await storage.start()
        assert (tmp_path / "files").stat().st_mode & 0o777 == 0o700

    def test_settings_without_a_bucket_choose_local_files_under_the_data_dir(self, tmp_path: Path):
        storage = create_storage(Settings(data_dir=tmp_path))
        assert isinstance(storage, LocalStorage) and storage.name == "local"
        assert storage.root == tmp_path.resolve() / "files"


class TestS3:
    async def test_objects_are_stored_under_the_prefix_with_their_content_type(self, s3_endpoint, s3_bucket):
        prefix = f"deployment-{uuid.uuid4().hex[:6]}/"
        storage = S3Storage(s3_settings(s3_endpoint, s3_bucket, prefix=prefix))
        try:
            await storage.put("uploads/one", b"%PDF-1.7", content_type="application/pdf")
        finally:
            await storage.aclose()
        raw = boto3.client(
            "s3",
            endpoint_url=s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id=S3_KEY_ID,
            aws_secret_access_key=S3_SECRET,
        )
        stored = raw.get_object(Bucket=s3_bucket, Key=f"{prefix}uploads/one")
        assert stored["Body"].read() == b"%PDF-1.7" and stored["ContentType"] == "application/pdf"

    async def test_start_fails_clearly_when_the_bucket_does_not_exist(self, s3_endpoint, tmp_path: Path):
        settings = Settings(data_dir=tmp_path, s3=s3_settings(s3_endpoint, "no-such-bucket-here"))
        with pytest.raises(StartupError, match="no-such-bucket-here"):
            await open_storage(settings)

    async def test_settings_with_a_bucket_choose_s3(self, s3_endpoint, s3_bucket, tmp_path: Path):
        settings = Settings(data_dir=tmp_path, s3=s3_settings(s3_endpoint, s3_bucket))
        storage = await open_storage(settings)
        try:
            assert isinstance(storage, S3Storage) and storage.name == "s3"
        finally:
            await storage.aclose()
        assert not (tmp_path / "files").exists()

    def test_s3_storage_needs_a_bucket(self):
        with pytest.raises(ValueError, match="bucket"):
            S3Storage(S3Settings(secret_access_key=SecretStr("x")))
