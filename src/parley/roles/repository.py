"""Every SQL statement of the roles domain, and the expression that reads a user's custom-role permissions in the
statement that already loads the user (so authorizing a request costs no extra query)."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, distinct, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from parley.errors import Conflict
from parley.models import CustomRole, Group, GroupMember, User


def held_permissions(
    user_id: QueryableAttribute[uuid.UUID], role: QueryableAttribute[str]
) -> ColumnElement[list[str] | None]:
    """The permissions of the custom roles a user holds, as one array (null: none): their own role when it is a
    custom one, and the roles of their groups. Correlated with the outer statement's user row; the probes are by
    unique name, by the `group_members` user index and by group primary key, so it stays cheap per request."""
    group_roles = (
        select(Group.role)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(GroupMember.user_id == user_id, Group.role.is_not(None))
        .correlate(User)
    )
    held = (
        select(func.unnest(CustomRole.permissions).label("permission"))
        .where(or_(CustomRole.name == role, CustomRole.name.in_(group_roles)))
        .correlate(User)
        .subquery("held")
    )
    return select(func.array_agg(distinct(held.c.permission))).correlate(User).scalar_subquery()


async def list_all(session: AsyncSession) -> list[CustomRole]:
    return list(await session.scalars(select(CustomRole).order_by(CustomRole.name)))


async def get(session: AsyncSession, role_id: uuid.UUID) -> CustomRole | None:
    return await session.get(CustomRole, role_id)


async def get_by_name(session: AsyncSession, name: str) -> CustomRole | None:
    return await session.scalar(select(CustomRole).where(CustomRole.name == name))


async def save(session: AsyncSession, role: CustomRole) -> CustomRole:
    """Insert or update a role; a name already taken is a 409, whichever request got there first."""
    session.add(role)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("a role with this name already exists") from exc
    await session.refresh(role)
    return role


async def holders(session: AsyncSession, name: str) -> tuple[int, int]:
    """How many users and how many groups hold the role `name`."""
    users = await session.scalar(select(func.count()).select_from(User).where(User.role == name))
    groups = await session.scalar(select(func.count()).select_from(Group).where(Group.role == name))
    return int(users or 0), int(groups or 0)


async def rename_holders(session: AsyncSession, old: str, new: str) -> None:
    """Users and groups name their role: a renamed role keeps its holders."""
    await session.execute(update(User).where(User.role == old).values(role=new))
    await session.execute(update(Group).where(Group.role == old).values(role=new))


async def remove(session: AsyncSession, role: CustomRole) -> None:
    await session.delete(role)
    await session.flush()
