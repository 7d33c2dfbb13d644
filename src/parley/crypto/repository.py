"""Every SQL statement of encryption at rest: data keys and the KEK registry. Data keys are read and created on
connections of their own (a key must be durable whatever becomes of the request that first needed it); the
erasure runs in the caller's unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from parley.models import DataKey, KeyEncryptionKey

DATA_KEYS = cast(Table, DataKey.__table__)
KEKS = cast(Table, KeyEncryptionKey.__table__)
# pg_advisory_xact_lock key of `parley keys rotate`: one rotation at a time across the whole deployment.
ROTATION_LOCK = 0x7061726C65790001


@dataclass(frozen=True)
class WrappedRow:
    id: uuid.UUID
    owner_id: uuid.UUID | None
    kek_id: str
    wrapped_key: bytes


def _row(row: object) -> WrappedRow:
    return WrappedRow(row.id, row.owner_id, row.kek_id, bytes(row.wrapped_key))  # type: ignore[attr-defined]


async def keys_of_owners(
    connection: AsyncConnection, owners: Collection[uuid.UUID], *, system: bool
) -> list[WrappedRow]:
    """The data keys of these users (and the system's key when `system`), in one query."""
    conditions = []
    if owners:
        conditions.append(DATA_KEYS.c.owner_id.in_(list(owners)))
    if system:
        conditions.append(DATA_KEYS.c.owner_id.is_(None))
    if not conditions:
        return []
    result = await connection.execute(select(DATA_KEYS).where(or_(*conditions)))
    return [_row(row) for row in result]


async def key_by_id(connection: AsyncConnection, key_id: uuid.UUID) -> WrappedRow | None:
    row = (await connection.execute(select(DATA_KEYS).where(DATA_KEYS.c.id == key_id))).first()
    return _row(row) if row is not None else None


async def active_kek(connection: AsyncConnection, *, provider: str, initial: str) -> str:
    """The KEK new data keys are wrapped by, share-locked until the caller's transaction ends, so a rotation
    switching to another waits for the data keys being created under this one (and its re-wrap pass sees
    them). The first call of an installation records `initial`."""
    query = select(KEKS.c.id).where(KEKS.c.state == "active").with_for_update(read=True)
    kek_id = await connection.scalar(query)
    if kek_id is None:
        await connection.execute(
            insert(KEKS).values(id=initial, provider=provider, state="active").on_conflict_do_nothing()
        )
        kek_id = await connection.scalar(query)
    if kek_id is None:
        raise RuntimeError("no active key-encryption key after recording one")
    return str(kek_id)


async def current_active_kek(connection: AsyncConnection) -> str | None:
    """The active KEK, read without a lock (start-up checks)."""
    kek_id = await connection.scalar(select(KEKS.c.id).where(KEKS.c.state == "active"))
    return str(kek_id) if kek_id is not None else None


async def insert_key(connection: AsyncConnection, row: WrappedRow) -> bool:
    """Insert a new data key; False when the owner already has one (another process created it first)."""
    inserted = await connection.scalar(
        insert(DATA_KEYS)
        .values(id=row.id, owner_id=row.owner_id, kek_id=row.kek_id, wrapped_key=row.wrapped_key)
        .on_conflict_do_nothing()
        .returning(DATA_KEYS.c.id)
    )
    return inserted is not None


async def delete_keys_of(session: AsyncSession, owner_id: uuid.UUID) -> list[uuid.UUID]:
    """Destroy the user's data key(s) in the caller's unit of work; the ids destroyed."""
    result = await session.execute(delete(DataKey).where(DataKey.owner_id == owner_id).returning(DataKey.id))
    return list(result.scalars())


# -- rotation --------------------------------------------------------------------------------------------------


async def lock_rotation(connection: AsyncConnection) -> None:
    await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROTATION_LOCK})


async def keks(connection: AsyncConnection) -> list[tuple[str, str, str]]:
    result = await connection.execute(select(KEKS.c.id, KEKS.c.provider, KEKS.c.state).order_by(KEKS.c.created_at))
    return [(str(kek_id), str(provider), str(state)) for kek_id, provider, state in result]


async def switch_active(connection: AsyncConnection, *, new: str, provider: str) -> str | None:
    """Make `new` the active KEK (the previous one retiring); the previous one's id (None: there was none or it
    is `new` itself, e.g. a new version of the same Vault key)."""
    previous = await connection.scalar(select(KEKS.c.id).where(KEKS.c.state == "active").with_for_update())
    if previous == new:
        return None
    await connection.execute(update(KEKS).where(KEKS.c.state == "active").values(state="retiring"))
    await connection.execute(
        insert(KEKS)
        .values(id=new, provider=provider, state="active")
        .on_conflict_do_update(index_elements=[KEKS.c.id], set_={"state": "active", "retired_at": None})
    )
    return str(previous) if previous is not None else None


async def keys_to_rewrap(
    connection: AsyncConnection, *, new: str, started_before: object, after: uuid.UUID | None, limit: int
) -> Sequence[WrappedRow]:
    """The next batch (by id) of data keys not yet wrapped by `new` since the rotation started."""
    query = (
        select(DATA_KEYS)
        .where(or_(DATA_KEYS.c.kek_id != new, DATA_KEYS.c.wrapped_at < started_before))
        .order_by(DATA_KEYS.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(DATA_KEYS.c.id > after)
    return [_row(row) for row in await connection.execute(query)]


async def replace_wrapping(connection: AsyncConnection, old: WrappedRow, *, kek_id: str, wrapped: bytes) -> bool:
    """Store the re-wrapped key unless the row changed meanwhile (destroyed by an erasure, or re-wrapped)."""
    result = await connection.execute(
        update(DATA_KEYS)
        .where(
            DATA_KEYS.c.id == old.id,
            DATA_KEYS.c.kek_id == old.kek_id,
            DATA_KEYS.c.wrapped_key == old.wrapped_key,
        )
        .values(kek_id=kek_id, wrapped_key=wrapped, wrapped_at=func.now())
    )
    return bool(result.rowcount)


async def count_wrapped_by(connection: AsyncConnection, kek_id: str) -> int:
    return int(await connection.scalar(select(func.count()).where(DATA_KEYS.c.kek_id == kek_id)) or 0)


async def mark_retired(connection: AsyncConnection, kek_id: str) -> None:
    await connection.execute(
        update(KEKS)
        .where(KEKS.c.id == kek_id, KEKS.c.state == "retiring")
        .values(state="retired", retired_at=func.now())
    )


async def database_now(connection: AsyncConnection) -> object:
    return await connection.scalar(select(func.now()))
