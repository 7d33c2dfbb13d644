"""SCIM's own SQL: the provisioning state row, and the filtered, paged reads of users and groups a SCIM list
answers (writes to users and groups go through their services)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.models import Group, GroupMember, ScimState, User


async def state(session: AsyncSession) -> ScimState | None:
    return await session.get(ScimState, 1)


async def store_token(session: AsyncSession, *, token_hash: str, created_at: datetime) -> None:
    """Replace the admins' token (the old one stops working when this commits)."""
    await session.execute(
        insert(ScimState)
        .values(id=1, token_hash=token_hash, token_created_at=created_at)
        .on_conflict_do_update(index_elements=["id"], set_={"token_hash": token_hash, "token_created_at": created_at})
    )


async def record_call(session: AsyncSession, at: datetime, *, every: timedelta) -> None:
    """Remember `at` as the last provisioning call, at most once per `every`: the one row is then locked
    (until the request commits) only that often, so an IdP's concurrent calls do not queue behind each other."""
    await session.execute(insert(ScimState).values(id=1).on_conflict_do_nothing(index_elements=["id"]))
    await session.execute(
        update(ScimState)
        .where(ScimState.id == 1, or_(ScimState.last_call_at.is_(None), ScimState.last_call_at < at - every))
        .values(last_call_at=at)
        .execution_options(synchronize_session=False)
    )


async def users_page(
    session: AsyncSession, condition: ColumnElement[bool] | None, *, offset: int, limit: int
) -> tuple[list[User], int]:
    """Provisioned (not deprovisioned) users matching `condition`, oldest first, and how many match in all."""
    query = select(User).where(User.deprovisioned_at.is_(None))
    if condition is not None:
        query = query.where(condition)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.order_by(User.created_at, User.id).offset(offset).limit(limit))
    return list(rows), int(total or 0)


async def groups_page(
    session: AsyncSession, condition: ColumnElement[bool] | None, *, offset: int, limit: int
) -> tuple[list[Group], int]:
    query = select(Group)
    if condition is not None:
        query = query.where(condition)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.order_by(Group.created_at, Group.id).offset(offset).limit(limit))
    return list(rows), int(total or 0)


async def members_of(session: AsyncSession, group_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[User]]:
    """The members of each of `group_ids` (one statement for a whole page of groups), by email."""
    members: dict[uuid.UUID, list[User]] = {group_id: [] for group_id in group_ids}
    if not group_ids:
        return members
    rows = await session.execute(
        select(GroupMember.group_id, User)
        .join(User, User.id == GroupMember.user_id)
        .where(GroupMember.group_id.in_(group_ids))
        .order_by(User.email)
    )
    for group_id, user in rows:
        members[group_id].append(user)
    return members
