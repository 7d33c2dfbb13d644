"""Every SQL statement of the audit domain."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.models import AuditEvent
from parley.privacy.logmask import mask, mask_value


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
    # Personal data (emails, cards, IBANs, phones) never reaches the trail, whoever calls (README, "PII"); the
    # client address stays, for investigations.
    event = AuditEvent(
        action=action,
        actor_id=actor_id,
        target_type=target_type,
        target_id=None if target_id is None else mask(target_id),
        ip=ip,
        details=mask_value(details),
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
        query.order_by(AuditEvent.created_at.desc(), AuditEvent.seq.desc(), AuditEvent.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows), int(total or 0)


def _filtered(
    *,
    actions: Sequence[str],
    target_type: str | None,
    actor_id: uuid.UUID | None,
    since: datetime | None,
    until: datetime | None,
) -> Select[Any]:
    query = select(AuditEvent)
    if actions:
        query = query.where(AuditEvent.action.in_(actions))
    if target_type:
        query = query.where(AuditEvent.target_type == target_type)
    if actor_id:
        query = query.where(AuditEvent.actor_id == actor_id)
    if since:
        query = query.where(AuditEvent.created_at >= since)
    if until:
        query = query.where(AuditEvent.created_at < until)
    return query


async def stream_oldest_first(
    session: AsyncSession,
    *,
    actions: Sequence[str],
    target_type: str | None,
    actor_id: uuid.UUID | None,
    since: datetime | None,
    until: datetime | None,
    batch: int = 500,
) -> AsyncIterator[AuditEvent]:
    """The matching events, oldest first, read through a server-side cursor `batch` rows at a time."""
    query = _filtered(actions=actions, target_type=target_type, actor_id=actor_id, since=since, until=until)
    rows = await session.stream_scalars(
        query.order_by(AuditEvent.created_at, AuditEvent.seq, AuditEvent.id).execution_options(yield_per=batch)
    )
    try:
        async for event in rows:
            yield cast(AuditEvent, event)
    finally:
        await rows.close()
