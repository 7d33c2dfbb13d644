"""The migrations build exactly the schema the models describe, so a fresh install and an upgraded one agree
with the code (a model changed without a migration fails here, not in production)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import FastAPI

from parley.models import Base


async def test_the_migrated_database_matches_the_models(app: FastAPI) -> None:
    def differences(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with app.state.database.engine.connect() as connection:
        found = await connection.run_sync(differences)
    assert found == []
