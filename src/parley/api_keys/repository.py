"""Every SQL statement about API keys."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.models import ApiKey, User
from parley.roles.repository import held_permissions

# Writing last_used_at on every call would turn each read into a write; once a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


async def add(session: AsyncSession, api_key: ApiKey) -> ApiKey:
    session.add(api_key)
    await session.flush()
    await session.refresh(api_key)
    return api_key


async def get_with_owner(session: AsyncSession, prefix: str) -> tuple[ApiKey, User, list[str]] | None:
    """The key with this public prefix, its owner and the permissions of the owner's custom roles (their own and
    their groups'), in one query: authentication needs all three, since a key never does more than its owner may
    do today."""
    row = (
        await session.execute(
            select(ApiKey, User, held_permissions(User.id, User.role))
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.prefix == prefix)
        )
    ).first()
    return (row[0], row[1], list(row[2] or ())) if row is not None else None


async def list_of_user(session: AsyncSession, user_id: uuid.UUID) -> list[ApiKey]:
    rows = await session.scalars(
        select(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    )
    return list(rows)


async def revoke(session: AsyncSession, *, user_id: uuid.UUID, key_id: uuid.UUID) -> bool:
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(ApiKey.id)
    )
    return result.one_or_none() is not None


async def touch(session: AsyncSession, key_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < now - LAST_USED_RESOLUTION),
        )
        .values(last_used_at=now)
    )
