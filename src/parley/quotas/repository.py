"""Every SQL statement of the quota ledger: per-day spend of users and groups, live reservations, alerts and
refusals. Times of reservations are the database's (`now()`), so replicas with skewed clocks agree on which
reservations are still live."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, Date, Float, Numeric, Uuid, bindparam, delete, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.models import GroupMember, LimitRefusal, QuotaAlert, QuotaCounter, QuotaReservation
from parley.policy.quotas import Spent

# The first key of the advisory locks that serialise admissions per user and per group budget.
_LOCK_SPACE = 0x71756F74  # "quot"

# Locks taken in one statement, in a fixed order (so two admissions sharing a group cannot deadlock).
_LOCK = text(
    "SELECT count(pg_advisory_xact_lock(:space, hashtext(subject))) "
    "FROM (SELECT DISTINCT unnest(CAST(:subjects AS text[])) AS subject ORDER BY 1) AS ordered"
)


async def lock(session: AsyncSession, subject_ids: Sequence[uuid.UUID]) -> None:
    """Serialise admissions of these users/groups until the caller's transaction ends: whoever takes the lock
    next reads (in a new statement) every reservation committed before it."""
    await session.execute(_LOCK, {"space": _LOCK_SPACE, "subjects": [str(s) for s in subject_ids]})


# Hand-written and bound once: this runs on every admitted answer, and building it with the ORM each time cost
# more than PostgreSQL's work on it (bench/b8_limits_overhead.py).
_STANDING = """
    SELECT subject_id AS subject, coalesce(sum(tokens) FILTER (WHERE day = :today), 0) AS a,
           coalesce(sum(tokens), 0) AS b, coalesce(sum(cost_usd), 0) AS c, 'spent' AS kind
      FROM quota_counters WHERE subject_id = ANY(:subjects) AND day >= :month GROUP BY subject_id
    UNION ALL
    SELECT CAST(:user_id AS uuid), count(*), coalesce(sum(tokens), 0), coalesce(sum(cost_usd), 0), 'user_reserved'
      FROM quota_reservations WHERE user_id = :user_id AND expires_at > now()
"""
_GROUPS_RESERVED = """
    UNION ALL
    SELECT g, count(*), 0, coalesce(sum(r.cost_usd), 0), 'group_reserved'
      FROM quota_reservations AS r CROSS JOIN LATERAL unnest(r.group_ids) AS g
     WHERE r.group_ids && :group_ids AND r.expires_at > now() AND g = ANY(:group_ids) GROUP BY g
"""
_PARAMETERS = (
    bindparam("subjects", type_=ARRAY(Uuid)),
    bindparam("user_id", type_=Uuid),
    bindparam("today", type_=Date),
    bindparam("month", type_=Date),
)
_USER_STANDING = text(_STANDING).bindparams(*_PARAMETERS)
_USER_AND_GROUPS_STANDING = text(_STANDING + _GROUPS_RESERVED).bindparams(
    *_PARAMETERS, bindparam("group_ids", type_=ARRAY(Uuid))
)


async def standing(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    group_ids: Sequence[uuid.UUID],
    today: date,
    month: date,
) -> tuple[Spent, dict[uuid.UUID, Spent], int]:
    """What the user and each of `group_ids` spent today and this month, what their live reservations hold,
    and how many answers the user has being written (live reservations), in one round trip."""
    subjects = [user_id, *group_ids]
    values: dict[str, object] = {"subjects": subjects, "user_id": user_id, "today": today, "month": month}
    statement = _USER_STANDING
    if group_ids:
        statement, values["group_ids"] = _USER_AND_GROUPS_STANDING, list(group_ids)
    spent: dict[uuid.UUID, dict[str, object]] = {subject: {} for subject in subjects}
    running = 0
    for subject, a, b, c, kind in (await session.execute(statement, values)).all():
        found = spent.setdefault(subject, {})
        if kind == "spent":
            found.update(tokens_today=int(a), tokens_this_month=int(b), usd_this_month=Decimal(c))
        else:
            found.update(reserved_tokens=int(b), reserved_usd=Decimal(c))
            if kind == "user_reserved":
                running = int(a)
    result = {subject: Spent(**found) for subject, found in spent.items()}  # type: ignore[arg-type]
    return result[user_id], {group_id: result[group_id] for group_id in group_ids}, running


# The user's expired reservations (left by a process that died) are swept in the same statement.
_RESERVE = text(
    """
    WITH swept AS (DELETE FROM quota_reservations WHERE user_id = :user_id AND expires_at <= now())
    INSERT INTO quota_reservations (id, user_id, group_ids, tokens, cost_usd, expires_at)
    VALUES (:id, :user_id, :group_ids, :tokens, :cost_usd, now() + make_interval(secs => :ttl))
    """
).bindparams(
    bindparam("id", type_=Uuid),
    bindparam("user_id", type_=Uuid),
    bindparam("group_ids", type_=ARRAY(Uuid)),
    bindparam("tokens", type_=BigInteger),
    bindparam("cost_usd", type_=Numeric(14, 6)),
    bindparam("ttl", type_=Float),
)


async def reserve(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    group_ids: Sequence[uuid.UUID],
    tokens: int,
    cost_usd: Decimal,
    ttl_seconds: float,
) -> uuid.UUID:
    """Hold `tokens` / `cost_usd` for one answer until it settles or the reservation expires."""
    reservation_id = uuid.uuid4()
    await session.execute(
        _RESERVE,
        {
            "id": reservation_id,
            "user_id": user_id,
            "group_ids": list(group_ids),
            "tokens": tokens,
            "cost_usd": cost_usd,
            "ttl": float(ttl_seconds),
        },
    )
    return reservation_id


async def release(session: AsyncSession, reservation_id: uuid.UUID) -> None:
    await session.execute(
        delete(QuotaReservation)
        .where(QuotaReservation.id == reservation_id)
        .execution_options(synchronize_session=False)
    )


async def add_spend(session: AsyncSession, *, user_id: uuid.UUID, day: date, tokens: int, cost_usd: Decimal) -> None:
    """Add spend to the user's counter of `day` and to each of their groups' (one statement): a group's budget
    then counts what its members spent whenever it was set."""
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
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[QuotaCounter.subject_id, QuotaCounter.day],
            set_={
                "tokens": QuotaCounter.tokens + statement.excluded.tokens,
                "cost_usd": QuotaCounter.cost_usd + statement.excluded.cost_usd,
            },
        )
    )


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
