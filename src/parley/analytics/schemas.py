"""What the admin analytics return: totals and a series of points, one per key of the chosen grouping."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field


class AnalyticsPoint(BaseModel):
    """Figures for one key (a day, a model, a cost centre…) or for the whole range (`key` "total").

    Rates are fractions (0.25 = 25 %) and null when there is nothing to divide by; latencies are milliseconds.
    Refusals by limits have no model: grouped by model, `refused` is null and `refused_by_limit` empty.
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
    cache_hits: int = Field(description="Answers served from the response cache")
    saved_usd: Decimal = Field(description="What the cached answers would have cost")
    refused: int | None = Field(description="Requests refused by a limit (rates, quotas, budgets)")
    refused_by_limit: dict[str, int] = Field(description="`refused` per limit name")
    thumbs_up: int = Field(description="Answers rated thumbs up by their user")
    thumbs_down: int = Field(description="Answers rated thumbs down by their user")
    satisfaction: float | None = Field(description="Share of rated answers rated up; null when none was rated")
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


class PlanChange(BaseModel):
    """How many times administrators moved a user from one plan to another (e.g. free → pro) in the range."""

    from_plan: str
    to_plan: str
    count: int


class AnalyticsReport(BaseModel):
    since: datetime
    until: datetime
    group_by: str
    active: ActiveUsers
    total: AnalyticsPoint
    series: list[AnalyticsPoint]
    plan_changes: list[PlanChange] = Field(description="Plan changes in the range, most frequent first")
