"""Every SQL statement of the groups domain, and the membership test other domains put into their access SQL."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, null, or_, select, update
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.errors import Conflict
from parley.models import Group, GroupMember, User


def group_ids_of(user_id: uuid.UUID | ColumnElement[uuid.UUID]) -> Select[uuid.UUID]:
    """Ids of the groups `user_id` belongs to, as a subquery for access rules (read on every statement, so
    removing a member takes effect at once)."""
    return select(GroupMember.group_id).where(GroupMember.user_id == user_id)


def _member_count() -> ColumnElement[int]:
    return (
        select(func.count())
        .select_from(GroupMember)
        .where(GroupMember.group_id == Group.id)
        .correlate(Group)
        .scalar_subquery()
    )


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _matching(query: Select[Group, int], search: str | None) -> Select[Group, int]:
    if search and search.strip():
        pattern = f"%{_escape_like(search.strip())}%"
        query = query.where(or_(Group.name.ilike(pattern), Group.description.ilike(pattern)))
    return query


async def add(session: AsyncSession, group: Group) -> Group:
    """Insert a group; a name already taken (in any case) is a 409, whichever request got there first."""
    return await flush(session, group, new=True)


async def flush(session: AsyncSession, group: Group, *, new: bool = False) -> Group:
    try:
        async with session.begin_nested():
            if new:
                # Added inside the savepoint: on a conflict its rollback forgets the group, and the caller's
                # session stays usable.
                session.add(group)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("a group with this name already exists") from exc
    await session.refresh(group)
    return group


async def get(session: AsyncSession, group_id: uuid.UUID) -> tuple[Group, int] | None:
    row = (
        await session.execute(select(Group, _member_count().label("members")).where(Group.id == group_id))
    ).one_or_none()
    return None if row is None else (row[0], row.members)


async def list_page(
    session: AsyncSession, *, search: str | None, offset: int, limit: int
) -> tuple[list[tuple[Group, int]], int]:
    """Groups by name (case-insensitively), with member counts, and how many match in all."""
    query = _matching(select(Group, _member_count().label("members")), search)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.execute(query.order_by(func.lower(Group.name), Group.id).offset(offset).limit(limit))
    return [(row[0], row.members) for row in rows], int(total or 0)


async def of_user(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[Group, int]]:
    rows = await session.execute(
        select(Group, _member_count().label("members"))
        .where(Group.id.in_(group_ids_of(user_id)))
        .order_by(func.lower(Group.name), Group.id)
    )
    return [(row[0], row.members) for row in rows]


async def remove(session: AsyncSession, group_id: uuid.UUID) -> bool:
    result = await session.execute(delete(Group).where(Group.id == group_id).returning(Group.id))
    return result.one_or_none() is not None


async def set_limits(session: AsyncSession, group: Group, limits: dict[str, Any] | None) -> None:
    """Store a group's limits; None stores SQL NULL (not JSON null), so `limits IS NULL` means none."""
    await session.execute(
        update(Group)
        .where(Group.id == group.id)
        .values(limits=null() if limits is None else limits)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(group)


async def add_member(session: AsyncSession, *, group_id: uuid.UUID, user_id: uuid.UUID) -> datetime:
    """Add the user (once); when they were added."""
    added_at: datetime | None = await session.scalar(
        insert(GroupMember)
        .values(group_id=group_id, user_id=user_id)
        .on_conflict_do_update(index_elements=["group_id", "user_id"], set_={"added_at": GroupMember.added_at})
        .returning(GroupMember.added_at)
    )
    assert added_at is not None  # an upsert with RETURNING always yields its row
    return added_at


async def remove_member(session: AsyncSession, *, group_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(GroupMember)
        .where(GroupMember.group_id == group_id, GroupMember.user_id == user_id)
        .returning(GroupMember.user_id)
    )
    return result.one_or_none() is not None


async def members_page(
    session: AsyncSession, *, group_id: uuid.UUID, offset: int, limit: int | None
) -> tuple[list[tuple[User, datetime]], int]:
    """Members with when they joined, by email."""
    total = await session.scalar(select(func.count()).select_from(GroupMember).where(GroupMember.group_id == group_id))
    rows = await session.execute(
        select(User, GroupMember.added_at)
        .join(GroupMember, GroupMember.user_id == User.id)
        .where(GroupMember.group_id == group_id)
        .order_by(User.email)
        .offset(offset)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in rows], int(total or 0)


def member_limits(user_id: uuid.UUID) -> ColumnElement[Any]:
    """`limits_of_member` as a scalar subquery for another domain's statement to carry (the plan lookup on every
    chat request): a JSON array of [id, name, limits] by name, or null."""
    return (
        select(func.json_agg(aggregate_order_by(func.json_build_array(Group.id, Group.name, Group.limits), Group.name)))
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(GroupMember.user_id == user_id, Group.limits.is_not(None))
        .scalar_subquery()
    )


async def limits_of_member(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[uuid.UUID, str, dict[str, Any]]]:
    """(id, name, limits) of the groups `user_id` belongs to that carry limits, by name."""
    rows = await session.execute(
        select(Group.id, Group.name, Group.limits)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(GroupMember.user_id == user_id, Group.limits.is_not(None))
        .order_by(Group.name)
    )
    return [(group_id, name, dict(limits)) for group_id, name, limits in rows.all()]


async def remove_user_everywhere(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(delete(GroupMember).where(GroupMember.user_id == user_id))
