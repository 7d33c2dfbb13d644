"""Every SQL statement of the quota record: per-day spend of users and groups (what the live ledger loads),
alerts and refusals."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, Date, Uuid, bindparam, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.models import GroupMember, LimitRefusal, QuotaAlert, QuotaCounter
from parley.quotas.ledger import Balance, to_micros

# Hand-written and bound once: it runs whenever the live ledger loads accounts.
_BALANCES = text(
    """
    SELECT subject_id, coalesce(sum(tokens) FILTER (WHERE day = :today), 0), coalesce(sum(tokens), 0),
           coalesce(sum(cost_usd), 0)
      FROM quota_counters WHERE subject_id = ANY(:subjects) AND day >= :month GROUP BY subject_id
    """
).bindparams(bindparam("subjects", type_=ARRAY(Uuid)), bindparam("today", type_=Date), bindparam("month", type_=Date))


async def balances(
    session: AsyncSession, *, subjects: Sequence[uuid.UUID], today: date, month: date
) -> dict[uuid.UUID, Balance]:
    """What each of these users and groups spent today and this month (those with no spend are left out)."""
    rows = await session.execute(_BALANCES, {"subjects": list(subjects), "today": today, "month": month})
    return {
        subject: Balance(tokens_today=int(day), tokens_this_month=int(month_tokens), usd_micros=to_micros(usd))
        for subject, day, month_tokens, usd in rows.all()
    }


async def add_spend(
    session: AsyncSession, *, user_id: uuid.UUID, day: date, tokens: int, cost_usd: Decimal
) -> tuple[uuid.UUID, ...]:
    """Add spend to the user's counter of `day` and to each of their groups' (one statement): a group's budget
    then counts what its members spent whenever it was set. Returns the user and groups it counted for."""
    subjects = select(literal(user_id).label("subject_id")).union_all(
        select(GroupMember.group_id).where(GroupMember.user_id == user_id)
    )
    rows = select(
        subjects.subquery().c.subject_id,
        literal(day).label("day"),
        literal(tokens, BigInteger).label("tokens"),
        literal(cost_usd, QuotaCounter.cost_usd.type).label("cost_usd"),
    )
    statement = insert(QuotaCounter).from_select(["subject_id", "day", "tokens", "cost_usd"], rows)
    counted = await session.execute(
        statement.on_conflict_do_update(
            index_elements=[QuotaCounter.subject_id, QuotaCounter.day],
            set_={
                "tokens": QuotaCounter.tokens + statement.excluded.tokens,
                "cost_usd": QuotaCounter.cost_usd + statement.excluded.cost_usd,
            },
        ).returning(QuotaCounter.subject_id)
    )
    return tuple(counted.scalars().all())


async def mark_alert(
    session: AsyncSession, *, subject_id: uuid.UUID, period_start: date, limit_name: str, threshold: Decimal
) -> bool:
    """Record that a limit reached a threshold in a period; True only for the first to record it."""
    result = await session.execute(
        insert(QuotaAlert)
        .values(subject_id=subject_id, period_start=period_start, limit_name=limit_name, threshold=threshold)
        .on_conflict_do_nothing()
        .returning(QuotaAlert.subject_id)
    )
    return result.one_or_none() is not None


async def count_refusal(session: AsyncSession, *, user_id: uuid.UUID, day: date, limit_name: str) -> None:
    statement = insert(LimitRefusal).values(day=day, user_id=user_id, limit_name=limit_name, count=1)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[LimitRefusal.day, LimitRefusal.user_id, LimitRefusal.limit_name],
            set_={"count": LimitRefusal.count + 1},
        )
    )
