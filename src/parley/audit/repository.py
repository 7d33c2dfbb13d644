"""Every SQL statement of the audit domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.models import AuditEvent


def add(
    session: AsyncSession,
    *,
    action: str,
    actor_id: uuid.UUID | None,
    target_type: str | None,
    target_id: str | None,
    ip: str | None,
    details: dict[str, Any],
) -> AuditEvent:
    event = AuditEvent(
        action=action,
        actor_id=actor_id,
        target_type=target_type,
        target_id=target_id,
        ip=ip,
        details=details,
    )
    session.add(event)
    return event


async def list_page(
    session: AsyncSession,
    *,
    action: str | None,
    actor_id: uuid.UUID | None,
    target_id: str | None,
    since: datetime | None,
    until: datetime | None,
    offset: int,
    limit: int,
) -> tuple[list[AuditEvent], int]:
    query = select(AuditEvent)
    if action:
        query = query.where(AuditEvent.action == action)
    if actor_id:
        query = query.where(AuditEvent.actor_id == actor_id)
    if target_id:
        query = query.where(AuditEvent.target_id == target_id)
    if since:
        query = query.where(AuditEvent.created_at >= since)
    if until:
        query = query.where(AuditEvent.created_at < until)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).offset(offset).limit(limit)
    )
    return list(rows), int(total or 0)
