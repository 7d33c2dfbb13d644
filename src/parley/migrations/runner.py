"""Apply Alembic migrations from code and tell whether a database is current."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

_MIGRATIONS_DIR = Path(__file__).resolve().parent
# Any constant works; it only has to be the same in every Parley replica.
_MIGRATION_LOCK_KEY = 0x5041524C4559


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS_DIR))
    return config


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _current(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def upgrade_to_head(engine: AsyncEngine) -> None:
    """Migrate to the newest revision. Replicas starting together take turns through an advisory lock."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        # The lock is the session's: ending the transaction keeps it, and leaves Alembic its own transaction per
        # revision, which a revision building an index CONCURRENTLY (`autocommit_block`) needs.
        await connection.commit()
        try:
            await connection.run_sync(_upgrade)
            await connection.commit()
        finally:
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            await connection.commit()


async def is_current(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        return await connection.run_sync(_current) == head_revisions()
