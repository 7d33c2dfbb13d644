"""Every SQL statement of the GDPR domain: the exports table, and the reads and rewrites of usage and quota rows
that erasure and exports need (the usage and quota domains keep their own queries; these are the only ones that
cross an account's whole history at once)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.models import Group, Plan, QuotaAlert, QuotaCounter, UsageLog, User, UserExport

ACTIVE_EXPORT_STATUSES = ("queued", "running")
RETENTION_KEYS = ("conversation_retention_days", "file_retention_days")


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user's row, locked until the transaction ends: serialises one user's export requests and erasure."""
    return await session.scalar(select(User).where(User.id == user_id).with_for_update())


async def add_export(session: AsyncSession, export: UserExport) -> UserExport:
    session.add(export)
    await session.flush()
    await session.refresh(export)
    return export


async def get_export(session: AsyncSession, *, user_id: uuid.UUID, export_id: uuid.UUID) -> UserExport | None:
    """One of the user's exports; anyone else's is not found."""
    return await session.scalar(select(UserExport).where(UserExport.id == export_id, UserExport.user_id == user_id))


async def export_for_update(session: AsyncSession, export_id: uuid.UUID) -> UserExport | None:
    return await session.scalar(select(UserExport).where(UserExport.id == export_id).with_for_update())


async def list_exports(session: AsyncSession, *, user_id: uuid.UUID, limit: int) -> list[UserExport]:
    rows = await session.scalars(
        select(UserExport)
        .where(UserExport.user_id == user_id)
        .order_by(UserExport.created_at.desc(), UserExport.id.desc())
        .limit(limit)
    )
    return list(rows)


async def has_active_export(session: AsyncSession, user_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(func.count())
        .select_from(UserExport)
        .where(UserExport.user_id == user_id, UserExport.status.in_(ACTIVE_EXPORT_STATUSES))
    )
    return bool(found)


async def exports_started_since(session: AsyncSession, user_id: uuid.UUID, since: datetime) -> list[datetime]:
    """When the user's exports since `since` were asked for, oldest first."""
    rows = await session.scalars(
        select(UserExport.created_at)
        .where(UserExport.user_id == user_id, UserExport.created_at >= since)
        .order_by(UserExport.created_at)
    )
    return list(rows)


async def export_keys_of(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    """Storage keys of the user's export zips still stored."""
    rows = await session.scalars(
        select(UserExport.storage_key).where(UserExport.user_id == user_id, UserExport.storage_key.is_not(None))
    )
    return [key for key in rows if key is not None]


async def expired_exports(session: AsyncSession, now: datetime, limit: int) -> list[uuid.UUID]:
    """Ready exports past their expiry (their expiry job was lost): the retention sweep's backstop."""
    rows = await session.scalars(
        select(UserExport.id)
        .where(UserExport.status == "ready", UserExport.expires_at < now)
        .order_by(UserExport.expires_at)
        .limit(limit)
    )
    return list(rows)


async def usage_of(session: AsyncSession, user_id: uuid.UUID) -> Sequence[UsageLog]:
    """Every usage record of a user, oldest first (their export)."""
    rows = await session.scalars(
        select(UsageLog).where(UsageLog.user_id == user_id).order_by(UsageLog.created_at, UsageLog.id)
    )
    return rows.all()


async def reassign_usage(session: AsyncSession, *, from_user: uuid.UUID, to_user: uuid.UUID) -> int:
    """Move a user's usage records to another (their tombstone); how many."""
    result = await session.execute(
        update(UsageLog)
        .where(UsageLog.user_id == from_user)
        .values(user_id=to_user)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def delete_quota_rows(session: AsyncSession, user_id: uuid.UUID) -> None:
    """A user's daily quota counters and alerts: the live ledger, not the billing record (usage rows are)."""
    await session.execute(delete(QuotaCounter).where(QuotaCounter.subject_id == user_id))
    await session.execute(delete(QuotaAlert).where(QuotaAlert.subject_id == user_id))


async def delete_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Delete the account row; sessions, API keys, memberships, grants, identities and owned knowledge bases go
    with it by cascade, audit rows it acted in keep no link to it (`SET NULL`)."""
    await session.execute(delete(User).where(User.id == user_id))


async def add_user(session: AsyncSession, user: User) -> User:
    session.add(user)
    await session.flush()
    return user


async def retention_configured(session: AsyncSession) -> bool:
    """Whether any plan, group or user override sets a retention period (if none, a sweep has nothing to do)."""

    def sets(column: Any) -> Any:
        return or_(*(column[key].as_string().is_not(None) for key in RETENTION_KEYS))

    for model in (Plan, Group, User):
        limits = model.limits
        if await session.scalar(select(func.count()).select_from(model).where(limits.is_not(None), sets(limits))):
            return True
    return False


async def users_for_retention(session: AsyncSession, *, after: uuid.UUID | None, limit: int) -> list[User]:
    """Accounts retention applies to, by id after `after`: neither tombstones nor on legal hold."""
    query = select(User).where(User.erased_at.is_(None), User.legal_hold_at.is_(None))
    if after is not None:
        query = query.where(User.id > after)
    rows = await session.scalars(query.order_by(User.id).limit(limit))
    return list(rows)


async def export_ids_of(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await session.scalars(select(UserExport.id).where(UserExport.user_id == user_id))
    return list(rows)
