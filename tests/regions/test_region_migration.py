"""Migration 0017 (regions) is an expand step: an installation at 0016 upgrades with its rows kept (their region
unknown: NULL), the previous release's writes (which know nothing of regions) still succeed on the upgraded
schema, and a downgrade takes the columns away again."""

from __future__ import annotations

import uuid

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from parley.config import Settings
from parley.db import create_engine
from parley.migrations.runner import alembic_config
from tests.databases import fresh_database

_REGION_COLUMNS = {
    ("users", "home_region"),
    ("conversations", "region"),
    ("files", "region"),
    ("knowledge_bases", "region"),
}


def _to(revision: str, *, down: bool = False):  # type: ignore[no-untyped-def]
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)

    return run


async def _region_columns(connection) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    rows = await connection.execute(
        text(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE column_name IN ('home_region', 'region') AND table_schema = 'public'"
        )
    )
    return {(row[0], row[1]) for row in rows}


async def test_0017_adds_nullable_region_columns_the_previous_release_survives(database_url: str) -> None:
    async with fresh_database(database_url, "parley_region_migration") as url:
        engine = create_engine(url, Settings(database_url=url))
        insert_user = text("INSERT INTO users (id, email) VALUES (:id, :email)")
        try:
            async with engine.connect() as connection:
                await connection.run_sync(_to("0016"))
                await connection.execute(insert_user, {"id": uuid.uuid4(), "email": "before@example.com"})
                await connection.commit()
                assert await _region_columns(connection) == set()

                await connection.run_sync(_to("0017"))
                await connection.commit()
                assert await _region_columns(connection) == _REGION_COLUMNS
                # The previous release's insert (no region) still works, and old rows have no region.
                await connection.execute(insert_user, {"id": uuid.uuid4(), "email": "old-code@example.com"})
                regions = await connection.execute(text("SELECT email, home_region FROM users ORDER BY email"))
                assert [tuple(row) for row in regions] == [("before@example.com", None), ("old-code@example.com", None)]
                await connection.commit()

                await connection.run_sync(_to("0016", down=True))
                await connection.commit()
                assert await _region_columns(connection) == set()
        finally:
            await engine.dispose()
