"""Every SQL statement of the admin analytics: aggregates over usage_logs, messages (with their feedback),
limit_refusals and the audit trail's plan changes, grouped by one key.

The grouping key is chosen from a fixed table of SQL expressions (never from the request's text), so the statements
below only ever interpolate these constants; every value is a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

GroupBy = Literal["day", "week", "model", "user", "group", "plan", "cost_centre"]
Grouping = GroupBy | Literal["total"]

# A user in several groups counts in each of them; a user in none has the key null.
_GROUP_JOIN = "LEFT JOIN group_members gm ON gm.user_id = us.id LEFT JOIN groups g ON g.id = gm.group_id"


def _key(grouping: Grouping, *, at: str, model: str) -> tuple[str, str]:
    """The key expression and the joins it needs, for a source whose timestamp and model columns are named."""
    return {
        "total": ("'total'", ""),
        "day": (f"to_char(timezone('UTC', {at}), 'YYYY-MM-DD')", ""),
        # ISO weeks start on Monday; the key is that Monday's date, so weeks sort and read like days.
        "week": (f"to_char(date_trunc('week', timezone('UTC', {at})), 'YYYY-MM-DD')", ""),
        "model": (model, ""),
        "user": ("us.email", ""),
        "group": ("g.name", _GROUP_JOIN),
        "plan": ("us.subscription_tier", ""),
        "cost_centre": ("us.cost_centre", ""),
    }[grouping]


@dataclass(frozen=True)
class UsageRow:
    key: str | None
    active_users: int
    conversations: int
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    cache_hits: int
    saved_usd: Decimal
    retained_7d: int
    retained_30d: int
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None


@dataclass(frozen=True)
class MessageRow:
    key: str | None
    messages: int
    answers: int
    failed_answers: int
    thumbs_up: int
    thumbs_down: int


@dataclass(frozen=True)
class RefusalRow:
    key: str | None
    limit_name: str
    count: int


@dataclass(frozen=True)
class PlanChangeRow:
    from_plan: str
    to_plan: str
    count: int


async def usage(session: AsyncSession, *, grouping: Grouping, since: datetime, until: datetime) -> list[UsageRow]:
    """Spend, activity, retention and latency percentiles per key, from usage_logs.

    Retention: of the users active under a key in the range, how many were active again (anywhere, up to now) at
    least 7 / 30 days after their first activity in the range. Requests are answers (or API calls), not rows: an
    answer's title and summaries are rows of their own but part of the one request. Percentiles ignore rows
    without timings (titles, summaries), so they describe answers.
    """
    key, joins = _key(grouping, at="l.created_at", model="l.model")
    statement = f"""
        WITH facts AS (
            SELECT {key} AS key, l.user_id, l.conversation_id, coalesce(l.message_id, l.id) AS request_id,
                   l.prompt_tokens, l.completion_tokens, l.cost_usd, l.cache_hit, l.saved_usd, l.ttft_ms,
                   l.latency_ms, l.created_at
            FROM usage_logs l JOIN users us ON us.id = l.user_id {joins}
            WHERE l.created_at >= :since AND l.created_at < :until
        ), firsts AS (
            SELECT key, user_id, min(created_at) AS first_at FROM facts GROUP BY key, user_id
        ), kept AS (
            SELECT f.key,
                   count(*) FILTER (WHERE EXISTS (
                       SELECT 1 FROM usage_logs later
                       WHERE later.user_id = f.user_id AND later.created_at >= f.first_at + interval '7 days'
                   )) AS retained_7d,
                   count(*) FILTER (WHERE EXISTS (
                       SELECT 1 FROM usage_logs later
                       WHERE later.user_id = f.user_id AND later.created_at >= f.first_at + interval '30 days'
                   )) AS retained_30d
            FROM firsts f GROUP BY f.key
        ), totals AS (
            SELECT key,
                   count(DISTINCT user_id) AS active_users,
                   count(DISTINCT conversation_id) AS conversations,
                   count(DISTINCT request_id) AS requests,
                   sum(prompt_tokens) AS prompt_tokens,
                   sum(completion_tokens) AS completion_tokens,
                   sum(cost_usd) AS cost_usd,
                   count(*) FILTER (WHERE cache_hit) AS cache_hits,
                   sum(saved_usd) AS saved_usd,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY ttft_ms) AS ttft_p50,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY ttft_ms) AS ttft_p95,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS latency_p50,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS latency_p95
            FROM facts GROUP BY key
        )
        SELECT t.*, k.retained_7d, k.retained_30d
        FROM totals t JOIN kept k ON k.key IS NOT DISTINCT FROM t.key
        ORDER BY t.key NULLS LAST
    """  # noqa: S608 (key and joins come from the constant table in _key)
    rows = await session.execute(text(statement), {"since": since, "until": until})
    return [
        UsageRow(
            key=None if r.key is None else str(r.key),
            active_users=int(r.active_users),
            conversations=int(r.conversations),
            requests=int(r.requests),
            prompt_tokens=int(r.prompt_tokens),
            completion_tokens=int(r.completion_tokens),
            cost_usd=Decimal(r.cost_usd),
            cache_hits=int(r.cache_hits),
            saved_usd=Decimal(r.saved_usd),
            retained_7d=int(r.retained_7d),
            retained_30d=int(r.retained_30d),
            ttft_p50_ms=_float(r.ttft_p50),
            ttft_p95_ms=_float(r.ttft_p95),
            latency_p50_ms=_float(r.latency_p50),
            latency_p95_ms=_float(r.latency_p95),
        )
        for r in rows
    ]


async def messages(session: AsyncSession, *, grouping: Grouping, since: datetime, until: datetime) -> list[MessageRow]:
    """Messages, finished answers, failed answers and the answers' thumbs up / down per key, from messages (owner
    from the conversation).

    An answer failed when it ended in `error` or `interrupted` (the process died); a stop by the user
    (`cancelled`) or a length cut is not a failure. Grouped by model, only answers count (questions have none).
    Feedback counts under the answer's time, not the rating's: it describes the answers of the range.
    """
    key, joins = _key(grouping, at="m.created_at", model="m.model")
    only_answers = "AND m.role = 'assistant'" if grouping == "model" else ""
    statement = f"""
        SELECT {key} AS key,
               count(*) FILTER (WHERE m.role IN ('user', 'assistant')) AS messages,
               count(*) FILTER (WHERE m.role = 'assistant' AND m.finish_reason IS NOT NULL) AS answers,
               count(*) FILTER (WHERE m.role = 'assistant' AND m.finish_reason IN ('error', 'interrupted'))
                   AS failed_answers,
               count(*) FILTER (WHERE m.role = 'assistant' AND m.feedback_rating = 1) AS thumbs_up,
               count(*) FILTER (WHERE m.role = 'assistant' AND m.feedback_rating = -1) AS thumbs_down
        FROM messages m JOIN conversations c ON c.id = m.conversation_id JOIN users us ON us.id = c.user_id {joins}
        WHERE m.created_at >= :since AND m.created_at < :until {only_answers}
        GROUP BY 1
    """  # noqa: S608 (key and joins come from the constant table in _key)
    rows = await session.execute(text(statement), {"since": since, "until": until})
    return [
        MessageRow(
            key=None if r.key is None else str(r.key),
            messages=int(r.messages),
            answers=int(r.answers),
            failed_answers=int(r.failed_answers),
            thumbs_up=int(r.thumbs_up),
            thumbs_down=int(r.thumbs_down),
        )
        for r in rows
    ]


async def refusals(session: AsyncSession, *, grouping: Grouping, since: datetime, until: datetime) -> list[RefusalRow]:
    """Requests refused by a limit, per key and limit name, from limit_refusals.

    Refusals are counted per UTC day, so a day counts when any part of it is in the range. They have no model:
    grouped by model there is nothing (the caller shows the figure as not applicable).
    """
    if grouping == "model":
        return []
    # The day's start as a timestamp with time zone, so the day and week keys read as for the other sources.
    key, joins = _key(grouping, at="(r.day::timestamp AT TIME ZONE 'UTC')", model="NULL")
    statement = f"""
        SELECT {key} AS key, r.limit_name, sum(r.count) AS refused
        FROM limit_refusals r JOIN users us ON us.id = r.user_id {joins}
        WHERE r.day >= CAST(timezone('UTC', CAST(:since AS timestamptz)) AS date)
          AND (r.day::timestamp AT TIME ZONE 'UTC') < :until
        GROUP BY 1, 2
    """  # noqa: S608 (key and joins come from the constant table in _key)
    rows = await session.execute(text(statement), {"since": since, "until": until})
    return [
        RefusalRow(key=None if r.key is None else str(r.key), limit_name=str(r.limit_name), count=int(r.refused))
        for r in rows
    ]


async def plan_changes(session: AsyncSession, *, since: datetime, until: datetime) -> list[PlanChangeRow]:
    """Administrators' changes of users' plans in the range, counted per (from, to) pair, most frequent first.

    They are the `admin.user_update` audit events whose details name `subscription_tier` (`{from, to}`), at the
    top level as the users service writes them or under `changes`.
    """
    statement = """
        WITH changed AS (
            SELECT coalesce(e.details -> 'subscription_tier', e.details -> 'changes' -> 'subscription_tier') AS tier
            FROM audit_events e
            WHERE e.action = 'admin.user_update' AND e.created_at >= :since AND e.created_at < :until
        )
        SELECT tier ->> 'from' AS from_plan, tier ->> 'to' AS to_plan, count(*) AS changes
        FROM changed
        WHERE jsonb_typeof(tier) = 'object' AND tier ->> 'from' IS NOT NULL AND tier ->> 'to' IS NOT NULL
        GROUP BY 1, 2
        ORDER BY 3 DESC, 1, 2
    """
    rows = await session.execute(text(statement), {"since": since, "until": until})
    return [PlanChangeRow(from_plan=str(r.from_plan), to_plan=str(r.to_plan), count=int(r.changes)) for r in rows]


async def active_users(session: AsyncSession, *, until: datetime) -> tuple[int, int, int]:
    """DAU, WAU and MAU at `until`: distinct users with usage in the day, 7 days and 30 days before it."""
    row = (
        await session.execute(
            text(
                """
                SELECT count(DISTINCT user_id) FILTER (WHERE created_at >= :day_ago),
                       count(DISTINCT user_id) FILTER (WHERE created_at >= :week_ago),
                       count(DISTINCT user_id)
                FROM usage_logs WHERE created_at >= :month_ago AND created_at < :until
                """
            ),
            {
                "until": until,
                "day_ago": until - timedelta(days=1),
                "week_ago": until - timedelta(days=7),
                "month_ago": until - timedelta(days=30),
            },
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def _float(value: object) -> float | None:
    return None if value is None else float(str(value))
