"""Databases of their own on the test run's embedded PostgreSQL (pgvector), for a migration test or for server
processes beside the tests' app. Made over a plain connection to the running server: a second
`start_embedded_postgres` handle in a test would let go of the server when it is done, and pgserver stops a
server whose last handle is gone while other xdist workers still use it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
from sqlalchemy.engine import make_url

from parley.db import asyncpg_dsn


@contextlib.asynccontextmanager
async def fresh_database(database_url: str, prefix: str) -> AsyncIterator[str]:
    """An empty database named `<prefix>_<random>` on the server of `database_url`; its URL, dropped after."""
    name = _new_name(prefix)
    await _on_server(database_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await _on_server(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_database_sync(database_url: str, prefix: str) -> Iterator[str]:
    """`fresh_database` for synchronous fixtures and tests (no event loop running in this thread)."""
    name = _new_name(prefix)
    asyncio.run(_on_server(database_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_on_server(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _new_name(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    if not name.isidentifier():
        raise ValueError(f"unsafe database name: {name!r}")
    return name


async def _on_server(database_url: str, statement: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
