"""Signed-in sessions as refresh-token families: issue, rotate, revoke.

A sign-in starts a family; each refresh uses the current token once and issues its child in the same
family. Presenting a used token means it was copied: the whole family is revoked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from parley.auth import repository
from parley.auth.tokens import new_refresh_token, token_hash
from parley.kit.clock import utcnow
from parley.models import RefreshToken, User


@dataclass(frozen=True)
class IssuedRefreshToken:
    token: str
    family_id: uuid.UUID


@dataclass(frozen=True)
class Rotation:
    """The outcome of presenting a refresh token: `current` is set only when it was live."""

    current: RefreshToken | None
    reused: RefreshToken | None = None


def issue(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    ttl_days: int,
    family_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> IssuedRefreshToken:
    token = new_refresh_token()
    family = family_id or uuid.uuid4()
    repository.add(
        session,
        user_id=user_id,
        token_hash=token_hash(token),
        family_id=family,
        parent_id=parent_id,
        expires_at=utcnow() + timedelta(days=ttl_days),
        ip=ip,
        user_agent=(user_agent or "")[:300] or None,
    )
    return IssuedRefreshToken(token=token, family_id=family)


async def rotate(session: AsyncSession, presented: str) -> Rotation:
    """Use a refresh token once. A second use of the same token revokes its family and reports the reuse."""
    hashed = token_hash(presented)
    current = await repository.consume(session, hashed)
    if current is not None:
        return Rotation(current=current)
    known = await repository.get_by_hash(session, hashed)
    if known is not None and known.used_at is not None:
        await repository.revoke_family(session, known.family_id)
        return Rotation(current=None, reused=known)
    return Rotation(current=None)


async def user_in_session(
    session: AsyncSession, *, user_id: uuid.UUID, session_id: uuid.UUID
) -> tuple[User, bool] | None:
    """The user behind an access token, and whether its session is still open (read together, one statement)."""
    return await repository.user_in_session(session, user_id=user_id, family_id=session_id)


async def revoke_by_token(session: AsyncSession, presented: str) -> RefreshToken | None:
    known = await repository.get_by_hash(session, token_hash(presented))
    if known is not None:
        await repository.revoke_family(session, known.family_id)
    return known


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await repository.revoke_family(session, family_id)


async def revoke_user_sessions(
    session: AsyncSession, user_id: uuid.UUID, *, except_family: uuid.UUID | None = None
) -> None:
    await repository.revoke_all_of_user(session, user_id, except_family=except_family)
