"""Token quotas, budgets and answers at once: admission with a reservation, settlement, alerts, refusals.

An answer (chat or /v1) is admitted by `admit`: the live ledger (`quotas.ledger`: in memory, or on Redis for
replicas) reads what was spent and held and decides in one atomic step: refused when a quota has nothing left
(429 `quota_exceeded`) or the user already has as many answers being written as their plan allows (429
`rate_limited`), else its estimate (prompt + max output, and its price) is held, cut to what is left. When the
answer ends, however it ends, its usage is recorded (`add_spend`: the record in PostgreSQL, in the usage row's
transaction) and `settle` ends the hold and writes any `quota.warning` / `quota.exceeded` alert; the ledger is
told once that transaction has committed. A hold left by a process that died expires after its TTL. So
concurrent answers together overspend by at most one answer's estimate error, and an answer cut to what was left
stops there with `finish_reason: length` and a notice saying which limit it reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from parley import events
from parley.audit.service import AuditAction, record
from parley.db import Database, after_commit_awaited
from parley.errors import QuotaExceeded, RateLimited
from parley.kit.clock import utcnow
from parley.llm.config import ModelConfig
from parley.metrics import instruments as metrics
from parley.plans.service import NamedPlan
from parley.policy.quotas import (
    CONCURRENT_ANSWERS,
    EXCEEDED_AT,
    TOKENS_DAY,
    WARNING_AT,
    Grant,
    Quota,
    Spent,
    day_start,
    month_start,
    quotas,
    thresholds_reached,
)
from parley.policy.rates import Decision, RateLimit, RateLimiter
from parley.quotas import repository
from parley.quotas.ledger import Balance, Figures, Hold, Ledger, Loader, Spend, Terms, from_micros, to_micros

_logger = structlog.get_logger("parley.quotas")

# A refused answer at the concurrency limit is told to try again after this long (answers end in seconds).
_CONCURRENCY_RETRY_SECONDS = 5


@dataclass(frozen=True, slots=True)
class Reservation:
    """An admitted answer's hold on the user's quotas. `id` (the ledger's hold) is None when no quota or
    concurrency limit applies (nothing to hold). `grant` is what it may spend; `capped_by` in it names the quota
    that cut it."""

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


async def _as_they_stand(
    ledger: Ledger, session: AsyncSession | None, *, user_id: uuid.UUID, plan: NamedPlan
) -> tuple[list[Quota], int]:
    """The user's quotas (their own and their budget groups') with what is spent and held now, and how many
    answers they have being written."""
    figures = await ledger.figures(user_id, [budget.group_id for budget in plan.group_budgets], session=session)
    return _quotas(plan, figures), figures.running


def _quotas(plan: NamedPlan, figures: Figures) -> list[Quota]:
    groups = [(budget, figures.groups.get(budget.group_id, Spent())) for budget in plan.group_budgets]
    return quotas(plan.plan, user=figures.user, groups=groups, now=utcnow())


async def admit(
    ledger: Ledger,
    *,
    session: AsyncSession | None = None,
    user_id: uuid.UUID,
    plan: NamedPlan,
    model: ModelConfig,
    prompt_tokens: int,
    max_tokens: int | None,
    overhead_tokens: int = 0,
    ttl_seconds: float,
) -> Reservation:
    """Admit one answer of `model` against the user's effective `plan` and hold its estimate (the prompt
    estimated at `prompt_tokens`, the longest answer allowed, and `overhead_tokens` of work around it), cut to
    what is left. Raises `QuotaExceeded` (a quota is used up, or what is left would not fit the prompt: which
    one, and when it comes back) or `RateLimited` (`concurrent-answers`).

    The ledger decides and holds in one atomic step, with no database round trip (but a load of an account it
    does not have yet, with the caller's `session` when it holds one). A caller whose own work then fails
    releases the hold (`release_in_background`)."""
    if not _limited(plan):
        return Reservation(None, user_id, plan, Grant(tokens=None, usd=None))
    tokens_estimate, usd_estimate = estimate(
        model, prompt_tokens=prompt_tokens + overhead_tokens, max_tokens=max_tokens
    )
    terms = Terms(plan.plan, plan.group_budgets, tokens_estimate, usd_estimate, ttl_seconds)
    admission = await ledger.admit(user_id, terms, session=session)
    now = utcnow()
    # The ledger's decision, again over the figures it decided on: for what to tell the user.
    decided = terms.decide(admission.figures, now)
    if decided is None:
        at_once = plan.plan.concurrent_answers
        assert at_once is not None  # only a plan with a limit on answers at once refuses for being busy
        metrics.limit_refused(CONCURRENT_ANSWERS)
        raise RateLimited(
            f"You have {admission.figures.running} answer(s) being written, as many as your plan allows at once "
            f"({at_once}); try again when one has finished",
            limit=CONCURRENT_ANSWERS,
            quota=at_once,
            window_seconds=0,
            resets_at=now + timedelta(seconds=_CONCURRENCY_RETRY_SECONDS),
            headers={},
        )
    if isinstance(decided, Quota):
        raise exceeded(decided)
    found = terms.quotas(admission.figures, now)
    if admission.hold_id is None:
        # Only where the ledger's integer arithmetic and ours part by a rounding: the quota with least left.
        raise exceeded(min(found, key=lambda quota: quota.left / quota.limit if quota.limit else Decimal(0)))
    reservation = Reservation(
        admission.hold_id,
        user_id,
        plan,
        decided,
        overhead_tokens,
        alert_due=_alert_due(found, decided, tokens_estimate),
    )
    if decided.capped_by is not None and reservation.output_allowance(prompt_tokens=prompt_tokens, model=model) == 0:
        # What is left would not even hold the prompt: refused now rather than answered with nothing.
        await ledger.apply([], [_hold(reservation)])
        raise exceeded(decided.capped_by)
    return reservation


def _hold(reservation: Reservation) -> Hold:
    assert reservation.id is not None
    group_ids = tuple(budget.group_id for budget in reservation.plan.group_budgets)
    return Hold(reservation.id, reservation.user_id, group_ids)


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


def release_in_background(ledger: Ledger, reservation: Reservation) -> None:
    """End the hold of an answer whose request failed after its admission (its transaction rolled back), from a
    synchronous rollback hook: a task of its own (the hold expires if it fails)."""
    if reservation.id is None:
        return
    task = asyncio.get_running_loop().create_task(ledger.apply([], [_hold(reservation)]))
    _releasing.add(task)
    task.add_done_callback(_releasing.discard)


def exceeded(quota: Quota) -> QuotaExceeded:
    """The refusal (429 `quota_exceeded`) of a request `quota` has too little left for: nothing, or less than
    its prompt takes. Counted in the metrics' refusals: every such refusal is raised."""
    metrics.limit_refused(quota.name)
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


@dataclass(slots=True)
class _Told:
    """What one unit of work will tell the live ledger once it has committed: spend recorded, holds ended."""

    spends: list[Spend]
    releases: list[Hold]


def _told(session: AsyncSession, ledger: Ledger) -> _Told:
    told: _Told | None = session.info.get("quota_ledger")
    if told is None:
        told = session.info["quota_ledger"] = _Told([], [])
        settled = told

        async def committed() -> None:
            await ledger.apply(settled.spends, settled.releases)

        async def rolled_back() -> None:
            # Nothing was spent after all; the holds end all the same (their answers are over).
            await ledger.apply([], settled.releases)

        after_commit_awaited(session, committed, on_rollback=rolled_back)
    return told


async def add_spend(
    session: AsyncSession, ledger: Ledger, *, user_id: uuid.UUID, tokens: int, cost_usd: Decimal
) -> None:
    """Count spend against the user's and their groups' quotas (today, UTC): in the record with every usage
    row, in its transaction, and in the live ledger once that has committed."""
    if tokens or cost_usd:
        subjects = await repository.add_spend(
            session, user_id=user_id, day=day_start(utcnow()), tokens=tokens, cost_usd=cost_usd
        )
        _told(session, ledger).spends.append(Spend(subjects, tokens, to_micros(cost_usd)))


async def settle(session: AsyncSession, ledger: Ledger, reservation: Reservation) -> None:
    """End an answer's hold once the transaction that records its usage has committed, and write (in that
    transaction) the alerts of every limit past 80 % or 100 % with this answer's spend: once per limit,
    threshold and period, whoever gets there first. (Spend after it, such as the conversation's title, is seen by
    the next settlement.)"""
    if reservation.id is None:
        return
    told = _told(session, ledger)
    told.releases.append(_hold(reservation))
    if reservation.alert_due:
        group_ids = [budget.group_id for budget in reservation.plan.group_budgets]
        figures = await ledger.figures(reservation.user_id, group_ids, session=session)
        await _alert(
            session,
            user_id=reservation.user_id,
            plan=reservation.plan,
            found=_quotas(reservation.plan, _with_spend(figures, told.spends, reservation.user_id)),
        )


def _with_spend(figures: Figures, spends: list[Spend], user_id: uuid.UUID) -> Figures:
    """The figures with spend not yet committed (this transaction's) added."""

    def plus(subject: uuid.UUID, spent: Spent) -> Spent:
        tokens = sum(spend.tokens for spend in spends if subject in spend.subjects)
        usd = sum(spend.usd_micros for spend in spends if subject in spend.subjects)
        return replace(
            spent,
            tokens_today=spent.tokens_today + tokens,
            tokens_this_month=spent.tokens_this_month + tokens,
            usd_this_month=spent.usd_this_month + from_micros(usd),
        )

    groups = {group_id: plus(group_id, spent) for group_id, spent in figures.groups.items()}
    return Figures(plus(user_id, figures.user), groups, figures.running)


async def _alert(session: AsyncSession, *, user_id: uuid.UUID, plan: NamedPlan, found: list[Quota]) -> None:
    now = utcnow()
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
    if exceeded:
        metrics.QUOTA_EXHAUSTED.labels(scope="group" if quota.group_id is not None else "user").inc()
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


async def standing(
    session: AsyncSession, ledger: Ledger, *, user_id: uuid.UUID, plan: NamedPlan, limiter: RateLimiter
) -> Standing:
    found, running = await _as_they_stand(ledger, session, user_id=user_id, plan=plan)
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


def loader(database: Database) -> Loader:
    """How the live ledger reads the record: in the caller's session when it holds one, else in a short unit of
    work of its own."""

    async def load(
        subjects: Sequence[uuid.UUID], today: date, month: date, session: AsyncSession | None
    ) -> dict[uuid.UUID, Balance]:
        if session is not None:
            return await repository.balances(session, subjects=subjects, today=today, month=month)
        async with database.session() as own:
            return await repository.balances(own, subjects=subjects, today=today, month=month)

    return load
