"""What the audit hash chain costs: one audit row per transaction (a sign-in's, an API key's) with the chain
trigger and without it, alone and with concurrent writers; chaining a bulk insert; and `verify`'s walk.

    uv run python bench/audit_chain.py [--appends 2000] [--writers 8] [--rows 100000]

Uses DATABASE_URL when set (a scratch database: it is migrated and its audit tables emptied), else an embedded
PostgreSQL in a temporary directory. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from parley.audit import chain
from parley.config import Settings
from parley.db import asyncpg_dsn, create_engine, start_embedded_postgres
from parley.migrations.runner import upgrade_to_head

_INSERT = (
    "INSERT INTO audit_events (id, actor_id, action, target_type, target_id, ip, details)"
    " VALUES ($1, $2, 'auth.login', 'user', $3, '203.0.113.7', $4::jsonb)"
)


async def _one(connection: asyncpg.Connection) -> float:
    started = time.perf_counter()
    async with connection.transaction():
        user = uuid.uuid4()
        await connection.execute(_INSERT, uuid.uuid4(), user, str(user), '{"method": "password"}')
    return (time.perf_counter() - started) * 1000


async def _serial(dsn: str, count: int) -> list[float]:
    connection = await asyncpg.connect(dsn)
    try:
        return [await _one(connection) for _ in range(count)]
    finally:
        await connection.close()


async def _concurrent(dsn: str, writers: int, each: int) -> tuple[float, list[float]]:
    connections = [await asyncpg.connect(dsn) for _ in range(writers)]
    try:
        started = time.perf_counter()
        results = await asyncio.gather(*(_many(c, each) for c in connections))
        elapsed = time.perf_counter() - started
    finally:
        for connection in connections:
            await connection.close()
    return writers * each / elapsed, [t for r in results for t in r]


async def _many(connection: asyncpg.Connection, count: int) -> list[float]:
    return [await _one(connection) for _ in range(count)]


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


async def run(url: str, appends: int, writers: int, rows: int) -> None:
    engine = create_engine(url, Settings(database_url=url))
    await upgrade_to_head(engine)
    dsn = asyncpg_dsn(url)
    admin = await asyncpg.connect(dsn)
    await admin.execute("TRUNCATE audit_events, audit_chain_head, audit_checkpoints")
    print(f"PostgreSQL {admin.get_server_version().major}, load average {os.getloadavg()[0]:.1f}")
    print(f"{'':36} {'p50 ms':>8} {'p95 ms':>8} {'appends/s':>10}")
    for trigger in ("on", "off"):
        if trigger == "off":
            await admin.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_chain")
        await _serial(dsn, 100)  # warm-up
        serial = await _serial(dsn, appends)
        rate, together = await _concurrent(dsn, writers, appends // writers)
        print(f"{'one writer, chain ' + trigger:36} {_p(serial, 50):8.2f} {_p(serial, 95):8.2f} {'':>10}")
        print(
            f"{f'{writers} writers, chain ' + trigger:36} {_p(together, 50):8.2f} {_p(together, 95):8.2f} {rate:10.0f}"
        )
    await admin.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_chain")
    await admin.execute("TRUNCATE audit_events, audit_chain_head, audit_checkpoints")

    started = time.perf_counter()
    await admin.execute(
        "INSERT INTO audit_events (id, actor_id, action, details)"
        " SELECT gen_random_uuid(), gen_random_uuid(), 'chat.retrieval_provenance',"
        " jsonb_build_object('chunks', jsonb_build_array(gen_random_uuid(), gen_random_uuid()), 'n', n)"
        " FROM generate_series(1, $1::int) AS n",
        rows,
    )
    print(f"{rows:,} rows in one transaction, chained at its commit: {time.perf_counter() - started:.2f} s")
    async with AsyncSession(engine) as session:
        started = time.perf_counter()
        verdict = await chain.verify(session)
        elapsed = time.perf_counter() - started
    print(f"verify: {verdict.summary()} in {elapsed:.2f} s ({verdict.rows / elapsed:,.0f} rows/s)")
    await admin.close()
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    if url:
        asyncio.run(run(Settings(database_url=url).database_url or url, args.appends, args.writers, args.rows))
        return
    with tempfile.TemporaryDirectory() as directory:
        embedded = start_embedded_postgres(Path(directory))
        try:
            asyncio.run(run(embedded.url, args.appends, args.writers, args.rows))
        finally:
            embedded.stop()


if __name__ == "__main__":
    main()
