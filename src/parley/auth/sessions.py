"""Signed-in sessions as refresh-token families: issue, rotate, revoke.

A sign-in starts a family; each refresh uses the current token once and issues its child in the same
family. The child is derived from its parent (`tokens.successor_refresh_token`), so presenting the parent again
within the grace window (tabs or retries racing for one refresh) is answered with the same child, and nothing
but hashes is stored. Presenting a used token after that window means it was copied: the whole family is revoked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from parley.auth import repository
from parley.auth.tokens import new_refresh_token, successor_refresh_token, token_hash
from parley.kit.clock import utcnow
from parley.models import RefreshToken, User


@dataclass(frozen=True)
class IssuedRefreshToken:
    token: str
    user_id: uuid.UUID
    family_id: uuid.UUID
    # The token's row and when it was issued: the access token issued with it is made from them, so a repeat
    # within the grace window gets the very same pair.
    token_id: uuid.UUID
    issued_at: datetime


@dataclass(frozen=True)
class Rotation:
    """The outcome of presenting a refresh token: `current` is set only when it was live (then `successor` is the
    token to issue after it); `repeated` when it was used within the grace window (its child, already issued,
    is `successor`); `reused` when it was used before that (the family is now revoked)."""

    current: RefreshToken | None
    reused: RefreshToken | None = None
    repeated: IssuedRefreshToken | None = None
    successor: str | None = None


def issue(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    ttl_days: int,
    family_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    token: str | None = None,
) -> IssuedRefreshToken:
    """Store a new token of a family (a new family when `family_id` is None); `token` is the child derived
    from its parent on a refresh, a random one otherwise."""
    token = token or new_refresh_token()
    family = family_id or uuid.uuid4()
    issued_at = utcnow()
    row = repository.add(
        session,
        user_id=user_id,
        token_hash=token_hash(token),
        family_id=family,
        parent_id=parent_id,
        created_at=issued_at,
        expires_at=issued_at + timedelta(days=ttl_days),
        ip=ip,
        user_agent=(user_agent or "")[:300] or None,
    )
    return IssuedRefreshToken(token=token, user_id=user_id, family_id=family, token_id=row.id, issued_at=issued_at)


async def rotate(session: AsyncSession, presented: str, *, successor_key: bytes, grace_seconds: int) -> Rotation:
    """Use a refresh token once. Presented again within `grace_seconds` of that use, it yields the child already
    issued; later, it revokes its family and reports the reuse.

    Of concurrent refreshes with one token, PostgreSQL's row lock lets one consume it; the others wait for its
    commit, then find the token used moments ago and its child stored.
    """
    hashed = token_hash(presented)
    successor = successor_refresh_token(presented, successor_key)
    current = await repository.consume(session, hashed)
    if current is not None:
        return Rotation(current=current, successor=successor)
    found = await repository.get_used(session, hashed, grace_seconds=grace_seconds)
    if found is None:
        return Rotation(current=None)  # unknown, expired, or ended unused (sign-out)
    known, within_grace = found
    if within_grace and known.revoked_at is None:
        child = await repository.get_live_child(session, parent_id=known.id, token_hash=token_hash(successor))
        if child is not None:
            repeated = IssuedRefreshToken(
                token=successor,
                user_id=child.user_id,
                family_id=child.family_id,
                token_id=child.id,
                issued_at=child.created_at,
            )
            return Rotation(current=None, repeated=repeated, successor=successor)
    await repository.revoke_family(session, known.family_id)
    return Rotation(current=None, reused=known)


async def user_in_session(
    session: AsyncSession, *, user_id: uuid.UUID, session_id: uuid.UUID
) -> tuple[User, bool, list[str]] | None:
    """The user behind an access token, whether its session is still open, and the permissions of the custom roles
    they hold (read together, one statement)."""
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


async def signed_in_at(session: AsyncSession, *, user_id: uuid.UUID, family_id: uuid.UUID) -> datetime | None:
    """When the user signed in to start this session (a refresh does not count): for actions that need a recent
    sign-in, such as deleting the account without a password."""
    return await repository.family_started_at(session, user_id=user_id, family_id=family_id)
