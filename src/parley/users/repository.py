"""Every SQL statement of the users domain."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import exists, func, null, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.errors import Conflict
from parley.models import User


async def get(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def any_exist(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(exists().where(User.id.is_not(None)))))


async def suspended_among(session: AsyncSession, user_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    rows = await session.scalars(select(User.id).where(User.id.in_(user_ids), User.is_active.is_(False)))
    return list(rows)


async def count_active_admins(session: AsyncSession) -> int:
    total = await session.scalar(
        select(func.count()).select_from(User).where(User.role == "admin", User.is_active.is_(True))
    )
    return int(total or 0)


async def add(session: AsyncSession, user: User) -> User:
    """Insert a user; a taken email is a 409, whichever request got there first (and the caller's session stays
    usable: the user is added inside the savepoint, so its rollback forgets it)."""
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("an account with this email already exists") from exc
    await session.refresh(user)
    return user


async def flush(session: AsyncSession, user: User) -> User:
    await session.flush()
    await session.refresh(user)
    return user


async def set_limits(session: AsyncSession, user: User, limits: dict[str, Any] | None) -> None:
    """Store a user's limit overrides; None stores SQL NULL (not JSON null), so `limits IS NULL` means none."""
    await session.execute(
        update(User)
        .where(User.id == user.id)
        .values(limits=null() if limits is None else limits)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(user)


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_page(
    session: AsyncSession,
    *,
    search: str | None,
    role: str | None,
    is_active: bool | None,
    offset: int,
    limit: int,
) -> tuple[list[User], int]:
    # Tombstones of erased accounts are not accounts: they only carry the usage kept for billing.
    query = select(User).where(User.erased_at.is_(None))
    if search:
        pattern = f"%{_escape_like(search.strip())}%"
        query = query.where(or_(User.email.ilike(pattern), User.full_name.ilike(pattern)))
    if role:
        query = query.where(User.role == role)
    if is_active is not None:
        query = query.where(User.is_active.is_(is_active))
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.order_by(User.created_at.desc(), User.id.desc()).offset(offset).limit(limit))
    return list(rows), int(total or 0)
