"""Upgrading an existing installation: chunks stored before migration 0007 (all indexed unstemmed) get their
language and a stemmed full-text vector, so their documents answer keyword questions like new uploads do."""

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


class TestUpgradingStoredChunks:
    async def test_chunks_written_before_0007_are_stemmed_in_their_language(self, database_url: str):
        async with fresh_database(database_url, "parley_search_migration") as url:
            engine = create_engine(url, Settings(database_url=url))
            try:
                async with engine.connect() as connection:
                    await connection.run_sync(_upgrade_to("0006"))
                    await connection.execute(
                        text(
                            "INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-000000000001', 'a@b.test')"
                        )
                    )
                    await connection.execute(
                        text(
                            "INSERT INTO files (id, user_id, filename, file_type, file_size, storage_key, status)"
                            " VALUES ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-000000000001',"
                            " 'a.txt', 'txt', 1, 'k', 'ready')"
                        )
                    )
                    await connection.execute(
                        text(
                            "INSERT INTO file_chunks (id, file_id, user_id, chunk_index, text, token_count)"
                            " VALUES (gen_random_uuid(), '00000000-0000-0000-0000-000000000002',"
                            " '00000000-0000-0000-0000-000000000001', :index, :text, 9)"
                        ),
                        [
                            {"index": 0, "text": "Die Rechnungen werden von der Buchhaltung schnell bezahlt."},
                            {"index": 1, "text": "The invoices are paid by the finance team within thirty days."},
                            {"index": 2, "text": "SKU-1142 | 19.99 | 7"},
                        ],
                    )
                    await connection.commit()
                await upgrade_to_head(engine)
                async with engine.connect() as connection:
                    rows = await connection.execute(
                        text(
                            "SELECT chunk_index, CAST(language AS text),"
                            " text_search @@ to_tsquery(language, CASE chunk_index WHEN 0 THEN 'Rechnung'"
                            " WHEN 1 THEN 'invoice' ELSE 'sku' END)"
                            " FROM file_chunks ORDER BY chunk_index"
                        )
                    )
                    assert [tuple(row) for row in rows] == [
                        (0, "german", True),
                        (1, "english", True),
                        (2, "simple", True),
                    ]
            finally:
                await engine.dispose()
