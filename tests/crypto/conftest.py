"""Crypto fixtures: `Crypto` objects over the test database with key files of their own, as separate Parley
processes (replicas) would have them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import text

from parley.crypto.keyring import Crypto
from parley.crypto.providers.base import KeyProvider
from parley.crypto.providers.local import LocalKeyFile
from parley.crypto.settings import CryptoSettings
from parley.db import Database

# The moto server (KMS, S3) and both storage backends, local and S3.
from tests.storage.conftest import s3_bucket, s3_endpoint, storage  # noqa: F401

MakeCrypto = Callable[..., Coroutine[Any, Any, Crypto]]


@pytest_asyncio.fixture
async def make_crypto(app: FastAPI, client: httpx.AsyncClient, tmp_path: Path) -> AsyncIterator[MakeCrypto]:
    """Start a `Crypto` on the test database (emptied by `client`): by default over one shared key file, as
    replicas on one data dir are."""
    database: Database = app.state.database
    started: list[Crypto] = []

    async def make(
        provider: KeyProvider | None = None, *, key_file: Path | None = None, cache_seconds: float = 300.0
    ) -> Crypto:
        crypto = Crypto(
            database.engine,
            provider or LocalKeyFile(key_file or tmp_path / "crypto" / "keyring.json"),
            CryptoSettings(key_cache_seconds=cache_seconds),
        )
        try:
            await crypto.start()
        except BaseException:
            await crypto.aclose()
            raise
        started.append(crypto)
        return crypto

    yield make
    for crypto in started:
        await crypto.aclose()
    # These processes' KEKs (key files of this test, other keys) are not the test run's: leave no active KEK of
    # theirs behind, or the next app started on this database (before a test empties it) refuses to start.
    async with database.engine.begin() as connection:
        await connection.execute(text("DELETE FROM data_keys"))
        await connection.execute(text("DELETE FROM key_encryption_keys"))
    app.state.crypto.forget_cached_keys()
