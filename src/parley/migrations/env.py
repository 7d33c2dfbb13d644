"""Alembic environment. Parley runs migrations itself (`parley migrate`, and at start); for authoring a new
revision: `uv run alembic -c src/parley/migrations/alembic.ini revision --autogenerate -m "..."` with
DATABASE_URL set."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from parley.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, compare_type=True, transaction_per_migration=True
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_standalone() -> None:
    from parley.config import Settings
    from parley.kit.postgres_url import engine_url

    url = Settings().database_url
    if not url:
        raise SystemExit("set DATABASE_URL to author migrations against a database")

    async def run() -> None:
        engine = create_async_engine(engine_url(url))
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run())


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    _run_standalone()
