"""The embedded PostgreSQL admits what Parley's own pools open under a burst: two `--workers` processes, each
with its full pool and overflow plus the keyring's connections, at once (initdb's default of 100 refused the rest:
"too many clients", answered 503)."""

from __future__ import annotations

import asyncio

import asyncpg

from parley.config import DatabaseSettings
from parley.crypto.keyring import KEY_CONNECTIONS_AT_ONCE
from parley.db import asyncpg_dsn

WORKERS = 2


async def test_two_workers_full_pools_are_all_admitted(database_url: str) -> None:
    defaults = DatabaseSettings()
    wanted = WORKERS * (defaults.pool_size + defaults.max_overflow + KEY_CONNECTIONS_AT_ONCE)
    assert wanted > 100  # more than initdb's default: the case this is about
    results = await asyncio.gather(
        *(asyncpg.connect(asyncpg_dsn(database_url)) for _ in range(wanted)), return_exceptions=True
    )
    connections = [c for c in results if isinstance(c, asyncpg.Connection)]
    try:
        refused = [repr(e) for e in results if isinstance(e, BaseException)]
        assert not refused, refused[:3]
        assert len(connections) == wanted
    finally:
        await asyncio.gather(*(c.close() for c in connections))
