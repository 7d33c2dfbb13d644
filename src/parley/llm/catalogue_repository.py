"""Every SQL statement of the model catalogue's admin entries (`ModelCatalogueEntry`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.models import ModelCatalogueEntry
from parley.models.model_catalogue_entry import REVISION_SEQUENCE

# pg_advisory_xact_lock key of catalogue writes ("parley-models" folded into a bigint): two admins' changes are
# validated one after the other, and revisions are committed in the order they were taken.
_WRITE_LOCK = 0x70_61_72_6C_65_79_6D

Fingerprint = tuple[int, int]


async def lock_for_write(session: AsyncSession) -> None:
    """Serialise catalogue writes until this transaction ends."""
    await session.execute(select(func.pg_advisory_xact_lock(_WRITE_LOCK)))


async def fingerprint(session: AsyncSession) -> Fingerprint:
    """(row count, highest revision): changes with any write, and with a delete (the count). Cheap enough to
    ask every few seconds from every replica."""
    row = (
        await session.execute(
            select(func.count(), func.coalesce(func.max(ModelCatalogueEntry.revision), 0)).select_from(
                ModelCatalogueEntry
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def all_entries(session: AsyncSession) -> list[ModelCatalogueEntry]:
    """Every entry, the oldest first (the order added models are listed in)."""
    statement = select(ModelCatalogueEntry).order_by(ModelCatalogueEntry.created_at, ModelCatalogueEntry.name)
    return list(await session.scalars(statement))


async def get(session: AsyncSession, name: str) -> ModelCatalogueEntry | None:
    return await session.scalar(select(ModelCatalogueEntry).where(ModelCatalogueEntry.name == name))


async def insert(
    session: AsyncSession, name: str, config: dict[str, Any], *, enabled: bool, api_key_sealed: bytes | None = None
) -> None:
    session.add(ModelCatalogueEntry(name=name, config=config, enabled=enabled, api_key_sealed=api_key_sealed))
    await session.flush()


async def replace(
    session: AsyncSession, name: str, config: dict[str, Any], *, enabled: bool, api_key_sealed: bytes | None
) -> None:
    await session.execute(
        update(ModelCatalogueEntry)
        .where(ModelCatalogueEntry.name == name)
        .values(
            config=config,
            enabled=enabled,
            api_key_sealed=api_key_sealed,
            revision=func.nextval(REVISION_SEQUENCE),
            updated_at=func.now(),
        )
    )


async def remove(session: AsyncSession, name: str) -> bool:
    deleted = await session.scalar(
        delete(ModelCatalogueEntry).where(ModelCatalogueEntry.name == name).returning(ModelCatalogueEntry.id)
    )
    return deleted is not None
