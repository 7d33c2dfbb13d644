"""Organisation analytics for admins: usage, spend, cache savings, retention, errors, latency, refusals by limits
and satisfaction over a range, grouped by a key, plan changes in the range, and the same figures as CSV for
chargeback."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from parley.analytics import repository
from parley.analytics.repository import GroupBy, Grouping
from parley.analytics.schemas import ActiveUsers, AnalyticsPoint, AnalyticsReport, PlanChange
from parley.audit import service as audit_service
from parley.audit.service import AuditAction
from parley.kit.periods import report_period

_CENT_FRACTION = Decimal("0.000001")


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _point(
    key: str | None,
    usage: repository.UsageRow | None,
    sent: repository.MessageRow | None,
    refused: dict[str, int] | None,
) -> AnalyticsPoint:
    """One key's figures; `refused` is None where refusals do not apply (grouped by model)."""
    conversations = usage.conversations if usage else 0
    cost = usage.cost_usd if usage else Decimal(0)
    active = usage.active_users if usage else 0
    answers = sent.answers if sent else 0
    failed = sent.failed_answers if sent else 0
    prompt = usage.prompt_tokens if usage else 0
    completion = usage.completion_tokens if usage else 0
    up = sent.thumbs_up if sent else 0
    down = sent.thumbs_down if sent else 0
    return AnalyticsPoint(
        key=key,
        active_users=active,
        conversations=conversations,
        messages=sent.messages if sent else 0,
        answers=answers,
        failed_answers=failed,
        error_rate=_ratio(failed, answers),
        requests=usage.requests if usage else 0,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cost_usd=cost,
        cost_per_conversation_usd=(cost / conversations).quantize(_CENT_FRACTION) if conversations else None,
        cache_hits=usage.cache_hits if usage else 0,
        saved_usd=usage.saved_usd if usage else Decimal(0),
        refused=None if refused is None else sum(refused.values()),
        refused_by_limit=dict(sorted((refused or {}).items())),
        thumbs_up=up,
        thumbs_down=down,
        satisfaction=_ratio(up, up + down),
        retained_7d=usage.retained_7d if usage else 0,
        retained_30d=usage.retained_30d if usage else 0,
        retention_7d=_ratio(usage.retained_7d, active) if usage else None,
        retention_30d=_ratio(usage.retained_30d, active) if usage else None,
        ttft_p50_ms=usage.ttft_p50_ms if usage else None,
        ttft_p95_ms=usage.ttft_p95_ms if usage else None,
        latency_p50_ms=usage.latency_p50_ms if usage else None,
        latency_p95_ms=usage.latency_p95_ms if usage else None,
    )


async def _points(session: AsyncSession, grouping: Grouping, since: datetime, until: datetime) -> list[AnalyticsPoint]:
    usage = {row.key: row for row in await repository.usage(session, grouping=grouping, since=since, until=until)}
    sent = {row.key: row for row in await repository.messages(session, grouping=grouping, since=since, until=until)}
    refused: dict[str | None, dict[str, int]] = {}
    for row in await repository.refusals(session, grouping=grouping, since=since, until=until):
        refused.setdefault(row.key, {})[row.limit_name] = row.count
    keys = sorted(usage.keys() | sent.keys() | refused.keys(), key=lambda k: (k is None, k or ""))
    applies = grouping != "model"
    return [_point(key, usage.get(key), sent.get(key), refused.get(key, {}) if applies else None) for key in keys]


async def report(
    session: AsyncSession, *, since: datetime | None, until: datetime | None, group_by: GroupBy
) -> AnalyticsReport:
    """The figures of [since, until) (default: the 30 days up to now), in total and per key of `group_by`.

    Totals are computed on their own rather than summed from the series: a user active on two days, or a member of
    two groups, is one active user, and their spend is counted once.
    """
    since, until = report_period(since, until)
    totals = await _points(session, "total", since, until)
    dau, wau, mau = await repository.active_users(session, until=until)
    return AnalyticsReport(
        since=since,
        until=until,
        group_by=group_by,
        active=ActiveUsers(dau=dau, wau=wau, mau=mau),
        total=totals[0] if totals else _point("total", None, None, {}),
        series=await _points(session, group_by, since, until),
        plan_changes=[
            PlanChange(from_plan=row.from_plan, to_plan=row.to_plan, count=row.count)
            for row in await repository.plan_changes(session, since=since, until=until)
        ],
    )


def audit_read(
    session: AsyncSession, found: AnalyticsReport, *, admin_id: uuid.UUID, group_by: GroupBy, export: bool
) -> None:
    """A report per user is other users' data: who read it, for which period, is audited (README, "Audit trail").
    Reports over days, models, groups or plans are aggregates and are not."""
    if group_by != "user":
        return
    audit_service.record(
        session,
        AuditAction.ADMIN_USER_DATA_READ,
        actor_id=admin_id,
        target_type="analytics",
        target_id="user",
        details={
            "what": "analytics.csv" if export else "analytics",
            "since": found.since.isoformat(),
            "until": found.until.isoformat(),
            "users": len(found.series),
        },
    )
