"""Upgrading an installation with audit rows to the hash chain (0020): the rows already there are chained oldest
first, and rows written after the upgrade continue that chain."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from parley.audit import chain
from parley.config import Settings
from parley.db import create_engine
from parley.migrations.runner import alembic_config, upgrade_to_head
from tests.databases import fresh_database


def _upgrade_to(revision: str):  # type: ignore[no-untyped-def]
    def upgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    return upgrade


async def test_existing_rows_are_chained_oldest_first(database_url: str) -> None:
    async with fresh_database(database_url, "parley_audit_migration") as url:
        engine = create_engine(url, Settings(database_url=url))
        try:
            async with engine.connect() as connection:
                await connection.run_sync(_upgrade_to("0019"))
                await connection.execute(
                    text("INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-000000000001', 'a@b.test')")
                )
                await connection.execute(
                    text(
                        "INSERT INTO audit_events (id, actor_id, action, details, created_at) VALUES"
                        " (gen_random_uuid(), '00000000-0000-0000-0000-000000000001', 'auth.login', '{}',"
                        "  now() - interval '2 days'),"
                        " (gen_random_uuid(), NULL, 'auth.login_failed', '{\"reason\": \"password\"}',"
                        "  now() - interval '3 days'),"
                        " (gen_random_uuid(), '00000000-0000-0000-0000-000000000001', 'api_key.create', '{}',"
                        "  now() - interval '1 day')"
                    )
                )
                await connection.commit()
            await upgrade_to_head(engine)
            async with engine.connect() as connection:
                rows = list(await connection.execute(text("SELECT seq, action FROM audit_events ORDER BY seq")))
                assert [tuple(r) for r in rows] == [
                    (1, "auth.login_failed"),
                    (2, "auth.login"),
                    (3, "api_key.create"),
                ]
                # Deleting the user no longer rewrites their rows (the foreign key is gone).
                await connection.execute(text("DELETE FROM users"))
                await connection.execute(
                    text("INSERT INTO audit_events (id, action) VALUES (gen_random_uuid(), 'auth.register')")
                )
                await connection.commit()
            async with AsyncSession(engine) as session:
                verdict = await chain.verify(session)
            assert verdict.ok, verdict.summary()
            assert verdict.rows == 4 and verdict.head_seq == 4
        finally:
            await engine.dispose()
