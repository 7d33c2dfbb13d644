"""What the admin analytics return: totals and a series of points, one per key of the chosen grouping."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel


class AnalyticsPoint(BaseModel):
    """Figures for one key (a day, a model, a cost centre…) or for the whole range (`key` "total").

    Rates are fractions (0.25 = 25 %) and null when there is nothing to divide by; latencies are milliseconds.
    """

    key: str | None
    active_users: int
    conversations: int
    messages: int
    answers: int
    failed_answers: int
    error_rate: float | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: Decimal
    cost_per_conversation_usd: Decimal | None
    retained_7d: int
    retained_30d: int
    retention_7d: float | None
    retention_30d: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None


class ActiveUsers(BaseModel):
    """Distinct users with usage in the day, week and 30 days before the range's end."""

    dau: int
    wau: int
    mau: int


class AnalyticsReport(BaseModel):
    since: datetime
    until: datetime
    group_by: str
    active: ActiveUsers
    total: AnalyticsPoint
    series: list[AnalyticsPoint]
