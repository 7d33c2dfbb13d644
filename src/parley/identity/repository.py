"""Every SQL statement of the identity domain: identities linked at providers, groups kept in step with a
provider's claim, and sign-ins waiting for a provider's answer."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.errors import Conflict
from parley.models import ExternalGroup, ExternalIdentity, Group, GroupMember, SsoLoginRequest


async def find_identity(session: AsyncSession, *, kind: str, provider: str, subject: str) -> ExternalIdentity | None:
    return await session.scalar(
        select(ExternalIdentity).where(
            ExternalIdentity.kind == kind, ExternalIdentity.provider == provider, ExternalIdentity.subject == subject
        )
    )


async def add_identity(session: AsyncSession, identity: ExternalIdentity) -> ExternalIdentity:
    """Insert a link; one that another request inserted first is a `Conflict`."""
    try:
        # Added inside the savepoint: begin_nested() flushes what is pending before it starts.
        async with session.begin_nested():
            session.add(identity)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("this identity is already linked") from exc
    return identity


async def group_by_name(session: AsyncSession, name: str) -> Group | None:
    return await session.scalar(select(Group).where(func.lower(Group.name) == name.lower()))


async def add_or_get_group(session: AsyncSession, group: Group) -> tuple[Group, bool]:
    """Insert a group, or take the one of that name (any case) that another request created meanwhile; whether
    this call created it."""
    try:
        async with session.begin_nested():
            session.add(group)
            await session.flush()
    except IntegrityError:
        existing = await group_by_name(session, group.name)
        if existing is None:
            raise
        return existing, False
    return group, True


async def link_group(session: AsyncSession, *, kind: str, provider: str, group_id: uuid.UUID) -> None:
    await session.execute(
        insert(ExternalGroup).values(kind=kind, provider=provider, group_id=group_id).on_conflict_do_nothing()
    )


async def linked_groups_of(session: AsyncSession, *, kind: str, provider: str, user_id: uuid.UUID) -> set[uuid.UUID]:
    """The user's memberships of the groups this provider keeps."""
    rows = await session.scalars(
        select(GroupMember.group_id)
        .join(ExternalGroup, ExternalGroup.group_id == GroupMember.group_id)
        .where(ExternalGroup.kind == kind, ExternalGroup.provider == provider, GroupMember.user_id == user_id)
    )
    return set(rows)


async def add_memberships(session: AsyncSession, *, user_id: uuid.UUID, group_ids: set[uuid.UUID]) -> None:
    if group_ids:
        await session.execute(
            insert(GroupMember)
            .values([{"group_id": group_id, "user_id": user_id} for group_id in group_ids])
            .on_conflict_do_nothing()
        )


async def remove_memberships(session: AsyncSession, *, user_id: uuid.UUID, group_ids: set[uuid.UUID]) -> None:
    if group_ids:
        await session.execute(
            delete(GroupMember).where(GroupMember.user_id == user_id, GroupMember.group_id.in_(group_ids))
        )


def add_login_request(session: AsyncSession, request: SsoLoginRequest) -> None:
    session.add(request)


async def take_login_request(session: AsyncSession, state_hash: str) -> SsoLoginRequest | None:
    """Remove and return the waiting sign-in with this state: a state is good for one callback, on any replica
    (two callbacks racing for it: one gets the row, the other nothing)."""
    row = await session.scalar(
        delete(SsoLoginRequest).where(SsoLoginRequest.state_hash == state_hash).returning(SsoLoginRequest)
    )
    return row


async def delete_login_request(session: AsyncSession, state_hash: str) -> None:
    await session.execute(delete(SsoLoginRequest).where(SsoLoginRequest.state_hash == state_hash))


async def delete_expired_login_requests(session: AsyncSession, now: datetime) -> None:
    await session.execute(delete(SsoLoginRequest).where(SsoLoginRequest.expires_at < now))


async def provider_activity(session: AsyncSession) -> dict[tuple[str, str], tuple[int, datetime | None]]:
    """Per (kind, provider): how many accounts are linked through it and the last sign-in through it."""
    rows = await session.execute(
        select(
            ExternalIdentity.kind,
            ExternalIdentity.provider,
            func.count(func.distinct(ExternalIdentity.user_id)),
            func.max(ExternalIdentity.last_login_at),
        ).group_by(ExternalIdentity.kind, ExternalIdentity.provider)
    )
    return {(kind, provider): (int(accounts), last) for kind, provider, accounts, last in rows.all()}


async def synced_group_counts(session: AsyncSession) -> dict[tuple[str, str], int]:
    """Per (kind, provider): how many Parley groups follow its group claim."""
    rows = await session.execute(
        select(ExternalGroup.kind, ExternalGroup.provider, func.count()).group_by(
            ExternalGroup.kind, ExternalGroup.provider
        )
    )
    return {(kind, provider): int(count) for kind, provider, count in rows.all()}
