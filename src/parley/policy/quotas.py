"""Quotas: the limits a user actually has (plan, then overrides), what is left of each, and what a request may
reserve. Pure decisions over numbers the caller read; the ledger itself lives in `parley.quotas`.

- Overrides: an admin may set any plan limit on a user (an explicit value, which wins) or on a group (the most
  generous of the plan's value and the user's groups' values wins; unlimited beats any number, and model lists
  are united). The PII policy is no limit: a group's replaces the plan's, the strictest of several groups'.
  A group may also carry a shared monthly budget its members draw on together.
- Periods are UTC calendar days and months: a daily quota comes back at 00:00 UTC, a monthly one on the 1st.
- Admission: a request is refused when any quota has nothing left; otherwise it reserves its estimate, cut to
  what is left, so concurrent requests together spend at most what is left plus one request's estimate error.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from parley.policy.plans import Plan, group_injection_policy
from parley.policy.privacy import group_pii_policy

TOKENS_DAY = "tokens-day"
TOKENS_MONTH = "tokens-month"
USD_MONTH = "usd-month"
GROUP_USD_MONTH = "group-usd-month"
CONCURRENT_ANSWERS = "concurrent-answers"

# Alert thresholds, as fractions of a limit: `quota.warning` at the first, `quota.exceeded` at the second.
WARNING_AT = Decimal("0.8")
EXCEEDED_AT = Decimal(1)


class LimitOverrides(Plan):
    """An admin's override of plan limits for one user: only the limits given are overridden (null: unlimited);
    an explicit per-user value wins over the plan and the user's groups."""


class GroupLimits(Plan):
    """Limits a group gives its members (the most generous of their plan and their groups wins), and a shared
    monthly budget the members draw on together (a department's spend cap)."""

    shared_usd_budget_per_month: float | None = Field(
        default=None, ge=0, description="USD the members may spend together per calendar month (UTC)"
    )


def stored(overrides: Plan) -> dict[str, Any]:
    """The JSON kept for an override: the keys the admin gave, nothing else."""
    return overrides.model_dump(mode="json", exclude_unset=True)


# Retention periods are duties to delete, not allowances: the shortest one the plan or a group sets applies (null
# sets none), so a group can impose retention on its members whatever their plan (README, "Your data").
SHORTEST_WINS = frozenset({"conversation_retention_days", "file_retention_days"})


def effective_plan(plan: Plan, *, user: Mapping[str, Any] | None, groups: Sequence[Mapping[str, Any]]) -> Plan:
    """The limits a user has: the plan's, each raised to the most generous value the user's groups give, and
    replaced by the user's own override where one is set. `user` and `groups` are stored overrides (only the
    keys set)."""
    values = plan.model_dump()
    for field in Plan.model_fields:
        if user is not None and field in user:
            values[field] = user[field]
            continue
        if field == "pii_policy":  # not a limit to be generous with: a group's replaces the plan's (README, "PII")
            values[field] = group_pii_policy(values[field], [group.get(field) for group in groups])
            continue
        if field == "injection_policy":  # the same: a group's replaces the plan's (README, "Prompt injection")
            values[field] = group_injection_policy(values[field], [group.get(field) for group in groups])
            continue
        merge = _shortest_set if field in SHORTEST_WINS else _more_generous
        for group in groups:
            if field in group:
                values[field] = merge(values[field], group[field])
    return Plan.model_validate(values)


def _shortest_set(current: Any, offered: Any) -> Any:
    if current is None or offered is None:
        return offered if current is None else current
    return min(current, offered)


def _more_generous(current: Any, offered: Any) -> Any:
    if current is None or offered is None:
        return None
    if isinstance(current, list):
        return list(dict.fromkeys([*current, *offered]))
    return max(current, offered)


def day_start(now: datetime) -> date:
    return now.astimezone(UTC).date()


def month_start(now: datetime) -> date:
    return day_start(now).replace(day=1)


def next_day(now: datetime) -> datetime:
    return datetime.combine(day_start(now) + timedelta(days=1), time(), UTC)


def next_month(now: datetime) -> datetime:
    first = month_start(now)
    return datetime(first.year + first.month // 12, first.month % 12 + 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Spent:
    """What a subject (user or group) spent in the current periods, and what its live reservations hold."""

    tokens_today: int = 0
    tokens_this_month: int = 0
    usd_this_month: Decimal = Decimal(0)
    reserved_tokens: int = 0
    reserved_usd: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class GroupBudget:
    """A group the user is in that carries a shared monthly budget."""

    group_id: uuid.UUID
    name: str
    usd_per_month: Decimal


@dataclass(frozen=True, slots=True)
class Quota:
    """One limit as it stands: the limit, what is spent, what answers being written hold, when it comes back."""

    name: str
    unit: Literal["tokens", "usd"]
    limit: Decimal
    used: Decimal
    reserved: Decimal
    resets_at: datetime
    group_id: uuid.UUID | None = None
    group_name: str | None = None

    @property
    def left(self) -> Decimal:
        return max(Decimal(0), self.limit - self.used - self.reserved)

    @property
    def exhausted(self) -> bool:
        return self.left <= 0

    def describe(self) -> str:
        """The limit in words, for refusals and notices."""
        amount = f"{self.limit:.2f} USD" if self.unit == "usd" else f"{int(self.limit):,} tokens"
        if self.name == TOKENS_DAY:
            return f"your daily token quota ({amount})"
        if self.name == TOKENS_MONTH:
            return f"your monthly token quota ({amount})"
        if self.name == USD_MONTH:
            return f"your monthly budget ({amount})"
        return f"the {self.group_name} group's shared monthly budget ({amount})"


def quotas(plan: Plan, *, user: Spent, groups: Sequence[tuple[GroupBudget, Spent]], now: datetime) -> list[Quota]:
    """Every quota that applies to a user on `plan` (effective limits), with what is spent and reserved."""
    found: list[Quota] = []
    day_reset, month_reset = next_day(now), next_month(now)
    if plan.tokens_per_day is not None:
        found.append(
            Quota(
                TOKENS_DAY,
                "tokens",
                Decimal(plan.tokens_per_day),
                Decimal(user.tokens_today),
                Decimal(user.reserved_tokens),
                day_reset,
            )
        )
    if plan.tokens_per_month is not None:
        found.append(
            Quota(
                TOKENS_MONTH,
                "tokens",
                Decimal(plan.tokens_per_month),
                Decimal(user.tokens_this_month),
                Decimal(user.reserved_tokens),
                month_reset,
            )
        )
    if plan.usd_budget_per_month is not None:
        found.append(
            Quota(
                USD_MONTH,
                "usd",
                Decimal(str(plan.usd_budget_per_month)),
                user.usd_this_month,
                user.reserved_usd,
                month_reset,
            )
        )
    for budget, spent in groups:
        found.append(
            Quota(
                GROUP_USD_MONTH,
                "usd",
                budget.usd_per_month,
                spent.usd_this_month,
                spent.reserved_usd,
                month_reset,
                group_id=budget.group_id,
                group_name=budget.name,
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class Grant:
    """What an admitted request may spend: `tokens` (None: no token quota applies) and `usd` (None: no budget
    applies), each the estimate cut to what is left; `capped_by` names the quota that cut it, if one did."""

    tokens: int | None
    usd: Decimal | None
    capped_by: Quota | None = None


def grant(found: Sequence[Quota], *, tokens_estimate: int, usd_estimate: Decimal) -> Grant | Quota:
    """What a request estimated at `tokens_estimate` / `usd_estimate` may reserve, or the exhausted quota that
    refuses it (the one that comes back last, so the client's retry is not refused again at once)."""
    exhausted = [quota for quota in found if quota.exhausted]
    if exhausted:
        return max(exhausted, key=lambda quota: quota.resets_at)
    tokens: int | None = None
    usd: Decimal | None = None
    capped_by: Quota | None = None
    for quota in found:
        if quota.unit == "tokens":
            left = int(quota.left)
            if tokens is None:
                tokens = tokens_estimate
            if left < tokens:
                tokens, capped_by = left, quota
        else:
            if usd is None:
                usd = usd_estimate
            if quota.left < usd:
                usd, capped_by = quota.left, quota
    return Grant(tokens=tokens, usd=usd, capped_by=capped_by)


def thresholds_reached(quota: Quota) -> list[Decimal]:
    """The alert thresholds (`WARNING_AT`, `EXCEEDED_AT`) that what `quota` has spent has reached."""
    if quota.limit <= 0:
        return [WARNING_AT, EXCEEDED_AT]
    fraction = quota.used / quota.limit
    return [threshold for threshold in (WARNING_AT, EXCEEDED_AT) if fraction >= threshold]
