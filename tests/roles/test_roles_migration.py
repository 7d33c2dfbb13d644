"""Upgrading an existing installation to 0016: admin routes moved onto finer permissions, so API keys scoped with
the old ones get the new ones too; a script using an admin key keeps working after the upgrade."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

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


async def test_keys_scoped_with_the_old_admin_scopes_get_the_finer_ones(database_url: str) -> None:
    async with fresh_database(database_url, "parley_roles_migration") as url:
        engine = create_engine(url, Settings(database_url=url))
        try:
            async with engine.connect() as connection:
                await connection.run_sync(_upgrade_to("0015"))
                await connection.execute(
                    text("INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-000000000001', 'a@b.test')")
                )
                await connection.execute(
                    text(
                        "INSERT INTO api_keys (id, user_id, name, prefix, secret_hash, scopes)"
                        " VALUES (gen_random_uuid(), '00000000-0000-0000-0000-000000000001',"
                        " :name, :name, 'h', :scopes)"
                    ),
                    [
                        {"name": "users", "scopes": ["admin:users", "chat"]},
                        {"name": "audit", "scopes": ["admin:audit"]},
                        {"name": "both", "scopes": ["admin:audit", "admin:users"]},
                        {"name": "plain", "scopes": ["chat", "files:read"]},
                    ],
                )
                await connection.commit()
            await upgrade_to_head(engine)
            async with engine.connect() as connection:
                rows = await connection.execute(text("SELECT name, scopes FROM api_keys ORDER BY name"))
                assert {row[0]: row[1] for row in rows} == {
                    "audit": ["admin:analytics", "admin:audit"],
                    "both": [
                        "admin:analytics",
                        "admin:audit",
                        "admin:groups",
                        "admin:models",
                        "admin:plans",
                        "admin:users",
                    ],
                    "plain": ["chat", "files:read"],
                    "users": ["admin:groups", "admin:models", "admin:plans", "admin:users", "chat"],
                }
        finally:
            await engine.dispose()
