"""Every SQL statement of the plans domain."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.models import Plan, User


async def get(session: AsyncSession, name: str) -> Plan | None:
    return await session.scalar(select(Plan).where(Plan.name == name))


async def limits_with(session: AsyncSession, name: str, also: ColumnElement[Any]) -> tuple[dict[str, Any] | None, Any]:
    """The stored limits of plan `name` (None: not stored) and the value of `also` (another domain's scalar
    subquery, read in the same round trip)."""
    row = (await session.execute(select(select(Plan.limits).where(Plan.name == name).scalar_subquery(), also))).one()
    return row[0], row[1]


async def all_by_name(session: AsyncSession) -> list[Plan]:
    return list(await session.scalars(select(Plan).order_by(Plan.name)))


async def insert_missing(session: AsyncSession, plans: dict[str, dict[str, Any]]) -> list[str]:
    """Insert the plans whose names are not stored yet; the names inserted. Replicas starting at once may race
    here: the unique name decides, and the loser inserts nothing."""
    if not plans:
        return []
    statement = (
        insert(Plan)
        .values([{"name": name, "limits": limits} for name, limits in plans.items()])
        .on_conflict_do_nothing(index_elements=[Plan.name])
        .returning(Plan.name)
    )
    return list(await session.scalars(statement))


async def upsert(session: AsyncSession, name: str, limits: dict[str, Any]) -> Plan:
    """Create the plan or replace its limits, atomically (two admins saving at once: the last one wins)."""
    statement = (
        insert(Plan)
        .values(name=name, limits=limits)
        .on_conflict_do_update(index_elements=[Plan.name], set_={"limits": limits, "updated_at": func.now()})
        .returning(Plan)
    )
    plan = (await session.scalars(statement, execution_options={"populate_existing": True})).one()
    return plan


async def remove(session: AsyncSession, name: str) -> bool:
    deleted = await session.scalar(delete(Plan).where(Plan.name == name).returning(Plan.id))
    return deleted is not None


async def count_users_on(session: AsyncSession, name: str) -> int:
    total = await session.scalar(select(func.count()).select_from(User).where(User.subscription_tier == name))
    return int(total or 0)
