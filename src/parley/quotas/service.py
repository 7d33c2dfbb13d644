"""Token quotas, budgets and answers at once: admission with a reservation, settlement, alerts, refusals.

An answer (chat or /v1) is admitted by `admit`: under a lock on the user (and their budget groups) it reads
what was spent and reserved, refuses when a quota has nothing left (429 `quota_exceeded`) or the user already
has as many answers being written as their plan allows (429 `rate_limited`), else reserves its estimate (prompt
+ max output, and its price), cut to what is left. When the answer ends, however it ends, its usage is recorded
(which adds it to the ledger: `add_spend`) and `settle` drops the reservation and writes any `quota.warning` /
`quota.exceeded` alert. A reservation left by a process that died expires after its TTL. So concurrent answers
together overspend by at most one answer's estimate error, and an answer cut to what was left stops there with
`finish_reason: length` and a notice saying which limit it reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from parley import events
from parley.audit.service import AuditAction, record
from parley.db import Database
from parley.errors import QuotaExceeded, RateLimited
from parley.kit.clock import utcnow
from parley.llm.config import ModelConfig
from parley.plans.service import NamedPlan
from parley.policy.quotas import (
    CONCURRENT_ANSWERS,
    EXCEEDED_AT,
    TOKENS_DAY,
    WARNING_AT,
    Grant,
    Quota,
    day_start,
    grant,
    month_start,
    quotas,
    thresholds_reached,
)
from parley.policy.rates import Decision, RateLimit, RateLimiter
from parley.quotas import repository

_logger = structlog.get_logger("parley.quotas")

# A refused answer at the concurrency limit is told to try again after this long (answers end in seconds).
_CONCURRENCY_RETRY_SECONDS = 5


@dataclass(frozen=True, slots=True)
class Reservation:
    """An admitted answer's hold on the user's quotas. `id` is None when no quota or concurrency limit applies
    (nothing to hold). `grant` is what it may spend; `capped_by` in it names the quota that cut it."""

    id: uuid.UUID | None
    user_id: uuid.UUID
    plan: NamedPlan
    grant: Grant
    # Tokens reserved for work around the answer (its conversation's title), not for the answer itself.
    overhead_tokens: int = 0
    # Whether spending what was reserved could take a quota past an alert threshold: only then does the
    # settlement read the ledger again to write alerts.
    alert_due: bool = False

    def output_allowance(self, *, prompt_tokens: int, model: ModelConfig) -> int | None:
        """The output tokens this answer may write once its prompt is known, when what was left cut its
        reservation; None when it was not cut (the model's own maximum applies)."""
        if self.grant.capped_by is None:
            return None
        allowances: list[int] = []
        if self.grant.tokens is not None:
            allowances.append(self.grant.tokens - prompt_tokens - self.overhead_tokens)
        if self.grant.usd is not None and model.price_per_1k_output > 0:
            money_left = self.grant.usd - model.cost(prompt_tokens + self.overhead_tokens, 0)
            allowances.append(int(money_left * 1000 / model.price_per_1k_output))
        return max(0, min(allowances)) if allowances else None

    def notice(self) -> dict[str, str]:
        """Why an answer cut to its reservation stopped: for the stream's `done` event and the message."""
        quota = self.grant.capped_by
        assert quota is not None
        when = quota.resets_at.strftime("%Y-%m-%d %H:%M UTC")
        return {
            "limit": quota.name,
            "message": f"The answer stopped here because {quota.describe()} is used up; it comes back on {when}.",
            "resets_at": quota.resets_at.isoformat(timespec="seconds"),
        }


def estimate_prompt_tokens(texts: Iterable[str]) -> int:
    """A generous count of the tokens these texts take in a prompt, without a tokenizer (no model call on the
    admission path): about three characters per token, plus a few per message for the chat template."""
    return sum(len(text) // 3 + 4 for text in texts)


def estimate(model: ModelConfig, *, prompt_tokens: int, max_tokens: int | None) -> tuple[int, Decimal]:
    """Tokens and USD an answer may spend at most: its prompt and the longest output it may write."""
    output = min(max_tokens or model.max_output_tokens, model.max_output_tokens)
    return prompt_tokens + output, model.cost(prompt_tokens, output)


def _limited(plan: NamedPlan) -> bool:
    limits = plan.plan
    return bool(
        plan.group_budgets
        or limits.concurrent_answers is not None
        or limits.tokens_per_day is not None
        or limits.tokens_per_month is not None
        or limits.usd_budget_per_month is not None
    )


async def _as_they_stand(session: AsyncSession, *, user_id: uuid.UUID, plan: NamedPlan) -> tuple[list[Quota], int]:
    """The user's quotas (their own and their budget groups') with what is spent and reserved now, and how many
    answers they have being written."""
    now = utcnow()
    group_ids = [budget.group_id for budget in plan.group_budgets]
    spent, groups, running = await repository.standing(
        session, user_id=user_id, group_ids=group_ids, today=day_start(now), month=month_start(now)
    )
    found = quotas(
        plan.plan, user=spent, groups=[(budget, groups[budget.group_id]) for budget in plan.group_budgets], now=now
    )
    return found, running


async def admit(
    database: Database,
    *,
    user_id: uuid.UUID,
    plan: NamedPlan,
    model: ModelConfig,
    prompt_tokens: int,
    max_tokens: int | None,
    overhead_tokens: int = 0,
    ttl_seconds: float,
) -> Reservation:
    """Admit one answer of `model` against the user's effective `plan` and reserve its estimate (the prompt
    estimated at `prompt_tokens`, the longest answer allowed, and `overhead_tokens` of work around it), cut to
    what is left. Raises `QuotaExceeded` (a quota is used up, or what is left would not fit the prompt: which
    one, and when it comes back) or `RateLimited` (`concurrent-answers`).

    The reservation is committed at once in a short unit of work of its own: the lock that makes admissions of
    one user (and their budget groups) take turns is held for three statements, not for the caller's request.
    A caller whose own work then fails releases it (`release_in_background`)."""
    if not _limited(plan):
        return Reservation(None, user_id, plan, Grant(tokens=None, usd=None))
    tokens_estimate, usd_estimate = estimate(
        model, prompt_tokens=prompt_tokens + overhead_tokens, max_tokens=max_tokens
    )
    now = utcnow()
    async with database.session() as session:
        await repository.lock(session, [user_id, *(budget.group_id for budget in plan.group_budgets)])
        found, running = await _as_they_stand(session, user_id=user_id, plan=plan)
        at_once = plan.plan.concurrent_answers
        if at_once is not None and running >= at_once:
            raise RateLimited(
                f"You have {running} answer(s) being written, as many as your plan allows at once ({at_once}); "
                "try again when one has finished",
                limit=CONCURRENT_ANSWERS,
                quota=at_once,
                window_seconds=0,
                resets_at=now + timedelta(seconds=_CONCURRENCY_RETRY_SECONDS),
                headers={},
            )
        decided = grant(found, tokens_estimate=tokens_estimate, usd_estimate=usd_estimate)
        if isinstance(decided, Quota):
            raise exceeded(decided)
        reservation = Reservation(
            None, user_id, plan, decided, overhead_tokens, alert_due=_alert_due(found, decided, tokens_estimate)
        )
        if (
            decided.capped_by is not None
            and reservation.output_allowance(prompt_tokens=prompt_tokens, model=model) == 0
        ):
            # What is left would not even hold the prompt: refused now rather than answered with nothing.
            raise exceeded(decided.capped_by)
        reservation_id = await repository.reserve(
            session,
            user_id=user_id,
            group_ids=[budget.group_id for budget in plan.group_budgets],
            tokens=decided.tokens if decided.tokens is not None else tokens_estimate,
            cost_usd=decided.usd if decided.usd is not None else usd_estimate,
            ttl_seconds=ttl_seconds,
        )
    return replace(reservation, id=reservation_id)


def _alert_due(found: list[Quota], decided: Grant, tokens_estimate: int) -> bool:
    """Whether this answer, spending all it reserved on top of what is spent and held, may reach an alert
    threshold of some quota (answers far from every limit skip the settlement's second read)."""
    for quota in found:
        adding = Decimal(decided.tokens if decided.tokens is not None else tokens_estimate)
        if quota.unit == "usd":
            adding = decided.usd if decided.usd is not None else Decimal(0)
        if quota.limit <= 0 or (quota.used + quota.reserved + adding) / quota.limit >= WARNING_AT:
            return True
    return False


_releasing: set[asyncio.Task[None]] = set()


def release_in_background(database: Database, reservation: Reservation) -> None:
    """Drop a reservation whose request failed after its admission (its transaction rolled back), from a
    synchronous rollback hook: a task of its own, logged if it fails (the reservation then expires)."""
    if reservation.id is None:
        return
    task = asyncio.get_running_loop().create_task(_release(database, reservation.id))
    _releasing.add(task)
    task.add_done_callback(_releasing.discard)


async def _release(database: Database, reservation_id: uuid.UUID) -> None:
    try:
        async with database.session() as session:
            await repository.release(session, reservation_id)
    except SQLAlchemyError as exc:
        _logger.warning("reservation_release_failed", error=str(exc))


def exceeded(quota: Quota) -> QuotaExceeded:
    """The refusal (429 `quota_exceeded`) of a request `quota` has too little left for: nothing, or less than
    its prompt takes."""
    now = utcnow()
    when = quota.resets_at.strftime("%Y-%m-%d %H:%M UTC")
    what = quota.describe()
    if quota.exhausted:
        message = f"{what[0].upper()}{what[1:]} is used up; it comes back on {when}"
    else:
        left = f"{quota.left:.2f} USD" if quota.unit == "usd" else f"{int(quota.left):,} tokens"
        message = f"{what[0].upper()}{what[1:]} has {left} left, too little for this request; it comes back on {when}"
    error = QuotaExceeded(
        message,
        limit=quota.name,
        quota=float(quota.limit) if quota.unit == "usd" else int(quota.limit),
        window_seconds=int((quota.resets_at - now).total_seconds()),
        resets_at=quota.resets_at,
        headers={},
    )
    # What is left (0: used up; more: too little for this request), and whose budget it is.
    error.extra["left"] = float(round(quota.left, 2)) if quota.unit == "usd" else int(quota.left)
    if quota.group_name is not None:
        error.extra["group_name"] = quota.group_name
    return error


async def add_spend(session: AsyncSession, *, user_id: uuid.UUID, tokens: int, cost_usd: Decimal) -> None:
    """Count spend against the user's and their groups' quotas (today, UTC). Called with every usage record,
    in its transaction."""
    if tokens or cost_usd:
        await repository.add_spend(session, user_id=user_id, day=day_start(utcnow()), tokens=tokens, cost_usd=cost_usd)


async def settle(session: AsyncSession, reservation: Reservation) -> None:
    """End an answer's reservation, in the transaction that records its usage, and write the alerts of every
    limit that is past 80 % or 100 % now: once per limit, threshold and period, whoever gets there first.
    (Spend after it, such as the conversation's title, is seen by the next settlement.)"""
    if reservation.id is None:
        return
    await repository.release(session, reservation.id)
    if reservation.alert_due:
        await _alert(session, user_id=reservation.user_id, plan=reservation.plan)


async def _alert(session: AsyncSession, *, user_id: uuid.UUID, plan: NamedPlan) -> None:
    now = utcnow()
    found, _ = await _as_they_stand(session, user_id=user_id, plan=plan)
    for quota in found:
        for threshold in thresholds_reached(quota):
            period = day_start(now) if quota.name == TOKENS_DAY else month_start(now)
            subject = quota.group_id or user_id
            if await repository.mark_alert(
                session, subject_id=subject, period_start=period, limit_name=quota.name, threshold=threshold
            ):
                await _write_alert(session, user_id=user_id, plan=plan, quota=quota, threshold=threshold)


async def _write_alert(
    session: AsyncSession, *, user_id: uuid.UUID, plan: NamedPlan, quota: Quota, threshold: Decimal
) -> None:
    exceeded = threshold >= EXCEEDED_AT
    data: dict[str, Any] = {
        "user_id": str(user_id),
        "plan": plan.name,
        "limit": quota.name,
        "unit": quota.unit,
        "limit_value": str(quota.limit),
        "used": str(quota.used),
        "threshold": str(threshold),
        "resets_at": quota.resets_at.isoformat(timespec="seconds"),
    }
    if quota.group_id is not None:
        data.update(group_id=str(quota.group_id), group_name=quota.group_name)
    event_type = "quota.exceeded" if exceeded else "quota.warning"
    await events.emit(session, event_type, data)
    record(
        session,
        AuditAction.QUOTA_EXCEEDED if exceeded else AuditAction.QUOTA_WARNING,
        actor_id=None,
        target_type="group" if quota.group_id is not None else "user",
        target_id=quota.group_id or user_id,
        details=data,
    )


@dataclass(frozen=True, slots=True)
class Standing:
    """Every limit that applies to a user as it stands now (`GET /api/v1/users/me/limits`)."""

    plan: NamedPlan
    quotas: list[Quota]
    answers_running: int
    # The plan's requests-per-minute limit as it stands (None: the plan has none).
    requests: Decision | None


async def standing(session: AsyncSession, *, user_id: uuid.UUID, plan: NamedPlan, limiter: RateLimiter) -> Standing:
    found, running = await _as_they_stand(session, user_id=user_id, plan=plan)
    requests = None
    if plan.plan.requests_per_minute is not None:
        limit = RateLimit("user-minute", quota=plan.plan.requests_per_minute, window_seconds=60)
        requests = await limiter.peek(limit, str(user_id))
    return Standing(plan=plan, quotas=found, answers_running=running, requests=requests)


@contextlib.asynccontextmanager
async def refusals_counted(database: Database, user_id: uuid.UUID) -> AsyncIterator[None]:
    """Count a request a limit refuses in the block (for the analytics), in a unit of work of its own: the
    request's own rolls back with the refusal."""
    try:
        yield
    except RateLimited as exc:
        limit = str(exc.extra.get("limit", "unknown"))
        try:
            async with database.session() as session:
                await repository.count_refusal(session, user_id=user_id, day=day_start(utcnow()), limit_name=limit)
        except SQLAlchemyError as db_error:  # the refusal stands; only its count is lost
            _logger.warning("refusal_count_failed", error=str(db_error), limit=limit)
        raise
