"""Every SQL statement about usage records."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.models import UsageLog
from parley.privacy.logmask import mask_value

# Requests are answers (or API calls without a stored message), not rows: an answer's title, summaries and
# abandoned fallbacks are rows of their own but part of the one request.
_REQUESTS = func.count(func.distinct(func.coalesce(UsageLog.message_id, UsageLog.id)))


async def add_many(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert usage rows (values by column name), all in one statement, at once (not at the flush). Strings are
    masked of personal data first (README, "PII"): a model name or note never carries an email into the record."""
    await session.execute(insert(UsageLog), [mask_value(row) for row in rows])


async def totals(
    session: AsyncSession, *, user_id: uuid.UUID, since: datetime, until: datetime
) -> tuple[int, int, Decimal, int]:
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(UsageLog.prompt_tokens), 0),
                func.coalesce(func.sum(UsageLog.completion_tokens), 0),
                func.coalesce(func.sum(UsageLog.cost_usd), 0),
                _REQUESTS,
            ).where(UsageLog.user_id == user_id, UsageLog.created_at >= since, UsageLog.created_at < until)
        )
    ).one()
    return int(row[0]), int(row[1]), Decimal(row[2]), int(row[3])


async def series(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    since: datetime,
    until: datetime,
    group_by: Literal["day", "model"],
    timezone: str = "UTC",
) -> list[tuple[str, int, int, Decimal, int]]:
    key = (
        func.to_char(func.timezone(timezone, UsageLog.created_at), "YYYY-MM-DD")
        if group_by == "day"
        else UsageLog.model
    )
    rows = await session.execute(
        select(
            key.label("key"),
            func.sum(UsageLog.prompt_tokens),
            func.sum(UsageLog.completion_tokens),
            func.sum(UsageLog.cost_usd),
            _REQUESTS,
        )
        .where(UsageLog.user_id == user_id, UsageLog.created_at >= since, UsageLog.created_at < until)
        .group_by(key)
        .order_by(key)
    )
    return [(str(r[0]), int(r[1]), int(r[2]), Decimal(r[3]), int(r[4])) for r in rows]


async def conversation_cost(session: AsyncSession, conversation_id: uuid.UUID) -> Decimal:
    cost = await session.scalar(
        select(func.coalesce(func.sum(UsageLog.cost_usd), 0)).where(UsageLog.conversation_id == conversation_id)
    )
    return Decimal(cost or 0)
