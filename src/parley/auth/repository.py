"""Every SQL statement about refresh tokens, and so about signed-in sessions (a session is a token family)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.models import RefreshToken, User
from parley.roles.repository import held_permissions


def add(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    token_hash: str,
    family_id: uuid.UUID,
    parent_id: uuid.UUID | None,
    created_at: datetime,
    expires_at: datetime,
    ip: str | None,
    user_agent: str | None,
) -> RefreshToken:
    token = RefreshToken(
        id=uuid.uuid4(),
        user_id=user_id,
        token_hash=token_hash,
        family_id=family_id,
        parent_id=parent_id,
        created_at=created_at,
        expires_at=expires_at,
        ip=ip,
        user_agent=user_agent,
    )
    session.add(token)
    return token


async def consume(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    """Mark a live token used and return it; None when it is unknown, used, revoked or expired.

    One conditional UPDATE: of any number of concurrent callers with the same token, PostgreSQL's row lock
    lets exactly one see it unused.
    """
    row = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.token_hash == token_hash,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > func.now(),
        )
        .values(used_at=func.now())
        .returning(RefreshToken.id, RefreshToken.user_id, RefreshToken.family_id)
    )
    found = row.one_or_none()
    if found is None:
        return None
    return RefreshToken(id=found.id, user_id=found.user_id, family_id=found.family_id)


async def user_in_session(
    session: AsyncSession, *, user_id: uuid.UUID, family_id: uuid.UUID
) -> tuple[User, bool, list[str]] | None:
    """The user behind an access token, whether its session is still open, and the permissions of the custom
    roles they hold (their own and their groups'), in one statement: every call with an access token reads the
    user anyway, so checking the session and the roles costs no extra round trip, and every replica sees a
    sign-out, a password change, a suspension or a role change the moment it is committed.

    A session is open while one token of its family is unrevoked (ending a session revokes them all); the
    partial index `ix_refresh_tokens_open_family_id` holds only those, so this is one index probe.
    """
    open_session = exists().where(
        RefreshToken.family_id == family_id,
        RefreshToken.user_id == user_id,
        RefreshToken.revoked_at.is_(None),
    )
    row = (
        await session.execute(
            select(User, open_session.label("open"), held_permissions(User.id, User.role).label("custom")).where(
                User.id == user_id
            )
        )
    ).one_or_none()
    if row is None:
        return None
    return row[0], bool(row[1]), list(row[2] or ())


async def get_used(session: AsyncSession, token_hash: str, *, grace_seconds: int) -> tuple[RefreshToken, bool] | None:
    """A used token, and whether it was used within the last `grace_seconds` (by the database's clock, the one
    that stamped `used_at`, so replicas' clocks do not matter); None for an unknown or unused token."""
    within_grace = RefreshToken.used_at > func.now() - timedelta(seconds=grace_seconds)
    row = (
        await session.execute(
            select(RefreshToken, within_grace).where(
                RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_not(None)
            )
        )
    ).one_or_none()
    return None if row is None else (row[0], bool(row[1]))


async def get_live_child(session: AsyncSession, *, parent_id: uuid.UUID, token_hash: str) -> RefreshToken | None:
    """The token issued after `parent_id` with this hash, unless its family has been revoked since."""
    return await session.scalar(
        select(RefreshToken).where(
            RefreshToken.token_hash == token_hash,
            RefreshToken.parent_id == parent_id,
            RefreshToken.revoked_at.is_(None),
        )
    )


async def get_by_hash(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    return await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )


async def revoke_all_of_user(
    session: AsyncSession, user_id: uuid.UUID, *, except_family: uuid.UUID | None = None
) -> None:
    query = update(RefreshToken).where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
    if except_family is not None:
        query = query.where(RefreshToken.family_id != except_family)
    await session.execute(query.values(revoked_at=func.now()))


async def family_started_at(session: AsyncSession, *, user_id: uuid.UUID, family_id: uuid.UUID) -> datetime | None:
    """When the session (refresh-token family) was signed in: its first token's creation; None if unknown."""
    started: datetime | None = await session.scalar(
        select(func.min(RefreshToken.created_at)).where(
            RefreshToken.family_id == family_id, RefreshToken.user_id == user_id
        )
    )
    return started
