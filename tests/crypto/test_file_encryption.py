"""Uploads sealed at rest, on local files and on S3 (moto): no plaintext in the store, streamed downloads, files
stored before encryption still readable, cut or altered or moved files refused, and a crypto-erased user's file
unreadable from any copy of its bytes; end to end through the upload and download API and ingestion."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.crypto import KeyDestroyed, SealedValueInvalid, streams
from parley.db import Database
from parley.models import File, FileChunk
from parley.storage import Storage
from parley.storage.encrypted import EncryptedStorage
from tests.crypto.conftest import MakeCrypto
from tests.factories import signed_in_user
from tests.files.helpers import uploaded

CANARY = b"Kanarienvogel-4711 in the vault"
SIZES = [0, 1, 1000, streams.DEFAULT_CHUNK_BYTES - 1, streams.DEFAULT_CHUNK_BYTES, streams.DEFAULT_CHUNK_BYTES + 1]


@pytest_asyncio.fixture
async def sealed_storage(storage: Storage, make_crypto: MakeCrypto) -> AsyncIterator[EncryptedStorage]:
    yield EncryptedStorage(storage, await make_crypto())


async def _streamed(storage: Storage, key: str, chunk_size: int = 65536) -> bytes:
    parts = [part async for part in storage.stream(key, chunk_size=chunk_size)]
    assert all(len(part) <= chunk_size for part in parts)
    return b"".join(parts)


class TestSealedFiles:
    @pytest.mark.parametrize("size", SIZES)
    async def test_round_trip_without_plaintext_in_the_store(self, sealed_storage: EncryptedStorage, size: int):
        data = (CANARY * (size // len(CANARY) + 1))[:size]
        owner = uuid.uuid4()
        await sealed_storage.put("uploads/a", data, content_type="text/plain", owner=owner)

        raw = await sealed_storage.inner.get("uploads/a")
        assert streams.is_sealed(raw) and len(raw) == streams.sealed_size(size)
        assert b"Kanarienvogel" not in raw
        assert await sealed_storage.get("uploads/a") == data
        assert await _streamed(sealed_storage, "uploads/a") == data
        assert await _streamed(sealed_storage, "uploads/a", chunk_size=999) == data

    async def test_a_large_file_streams(self, sealed_storage: EncryptedStorage):
        data = os.urandom(3 * 1024 * 1024 + 17)
        await sealed_storage.put("uploads/big", data, content_type="application/pdf", owner=uuid.uuid4())
        assert await _streamed(sealed_storage, "uploads/big") == data
        assert await sealed_storage.get("uploads/big") == data

    async def test_a_file_stored_before_encryption_is_read_as_it_is(self, sealed_storage: EncryptedStorage):
        for key, data in (("uploads/old", CANARY * 5000), ("uploads/tiny", b"hi"), ("uploads/empty", b"")):
            await sealed_storage.inner.put(key, data, content_type="text/plain")
            assert await sealed_storage.get(key) == data
            assert await _streamed(sealed_storage, key, chunk_size=4096) == data

    async def test_during_an_upgrade_files_are_written_as_they_come_and_read_either_way(
        self, sealed_storage: EncryptedStorage, make_crypto: MakeCrypto
    ):
        await sealed_storage.put("uploads/sealed", CANARY, content_type="text/plain", owner=uuid.uuid4())
        upgrading = EncryptedStorage(sealed_storage.inner, await make_crypto(), seal=False)
        await upgrading.put("uploads/plain", CANARY, content_type="text/plain", owner=uuid.uuid4())
        assert await upgrading.inner.get("uploads/plain") == CANARY  # what the previous release's pods can serve
        assert await upgrading.get("uploads/sealed") == CANARY == await upgrading.get("uploads/plain")

    async def test_altered_cut_or_moved_bytes_are_refused(self, sealed_storage: EncryptedStorage):
        data = os.urandom(3 * streams.DEFAULT_CHUNK_BYTES + 5)
        await sealed_storage.put("uploads/a", data, content_type="text/plain", owner=uuid.uuid4())
        raw = await sealed_storage.inner.get("uploads/a")
        chunk = streams.DEFAULT_CHUNK_BYTES + streams.TAG_BYTES
        flipped = bytearray(raw)
        flipped[streams.HEADER_BYTES + 100] ^= 1
        cut_at_a_chunk_boundary = raw[: streams.HEADER_BYTES + 3 * chunk]
        second_chunk_first = (
            raw[: streams.HEADER_BYTES]
            + raw[streams.HEADER_BYTES + chunk : streams.HEADER_BYTES + 2 * chunk]
            + raw[streams.HEADER_BYTES : streams.HEADER_BYTES + chunk]
            + raw[streams.HEADER_BYTES + 2 * chunk :]
        )
        for name, bad in (("flipped", bytes(flipped)), ("cut", cut_at_a_chunk_boundary), ("swap", second_chunk_first)):
            await sealed_storage.inner.put(f"uploads/{name}", bad, content_type="text/plain")
            with pytest.raises(SealedValueInvalid):
                await sealed_storage.get(f"uploads/{name}")
            with pytest.raises(SealedValueInvalid):
                await _streamed(sealed_storage, f"uploads/{name}")
        # Another file's bytes copied over this one's key do not open either.
        await sealed_storage.inner.put("uploads/b", raw, content_type="text/plain")
        with pytest.raises(SealedValueInvalid):
            await sealed_storage.get("uploads/b")

    async def test_a_crypto_erased_users_file_is_unreadable_from_any_copy(
        self, sealed_storage: EncryptedStorage, app: FastAPI
    ):
        alice, bob = uuid.uuid4(), uuid.uuid4()
        await sealed_storage.put("uploads/alice", CANARY, content_type="text/plain", owner=alice)
        await sealed_storage.put("uploads/bob", b"bob's", content_type="text/plain", owner=bob)
        backup_copy = await sealed_storage.inner.get("uploads/alice")

        database: Database = app.state.database
        async with database.session() as erasure:
            await sealed_storage._crypto.erase(erasure, alice)

        with pytest.raises(KeyDestroyed):
            await sealed_storage.get("uploads/alice")
        # The bytes restored from a backup taken before the erasure: still nothing.
        await sealed_storage.inner.delete("uploads/alice")
        await sealed_storage.inner.put("uploads/alice", backup_copy, content_type="text/plain")
        with pytest.raises(KeyDestroyed):
            await sealed_storage.get("uploads/alice")
        with pytest.raises(KeyDestroyed):
            await _streamed(sealed_storage, "uploads/alice")
        # A new key for the same id (were the user to come back) opens nothing of the old bytes either.
        with pytest.raises(SealedValueInvalid):
            streams.open_file(await sealed_storage._crypto.key_for(alice), backup_copy, context="uploads/alice")
        assert await sealed_storage.get("uploads/bob") == b"bob's"


class TestUploadsEndToEnd:
    async def test_an_upload_is_sealed_on_disk_downloads_and_is_read_by_ingestion(
        self, app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
    ):
        user = await signed_in_user(app, client)
        text = b"Quarterly report. " + CANARY + b" The vault holds 42 gold bars.\n" * 40
        body = await uploaded(client, user, text, "report.txt")

        on_disk = Path(app.state.storage.root) / "uploads" / body["id"]
        raw = on_disk.read_bytes()
        assert streams.is_sealed(raw) and b"Kanarienvogel" not in raw and b"gold bars" not in raw
        download = await client.get(f"/api/v1/files/{body['id']}/content", headers=user.headers)
        assert download.status_code == 200 and download.content == text
        assert download.headers["content-length"] == str(len(text))

        # Ingestion (a job) read the plaintext through the same storage.
        for _ in range(1200):
            status = await session.scalar(select(File.status).where(File.id == uuid.UUID(body["id"])))
            await session.commit()
            if status in ("ready", "failed"):
                break
            await asyncio.sleep(0.05)
        assert status == "ready"
        # Whole rows: chunk text is sealed at rest too, and opened as the ORM loads it.
        chunks = [
            c.text for c in await session.scalars(select(FileChunk).where(FileChunk.file_id == uuid.UUID(body["id"])))
        ]
        assert any("gold bars" in chunk for chunk in chunks)
