"""Usage and cost: one record per completion (tokens, model, cost, latency), and a user's totals over time."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from parley.kit.periods import report_period
from parley.llm.base import Usage
from parley.llm.config import ModelConfig
from parley.metrics import instruments as metrics
from parley.quotas import service as quotas_service
from parley.quotas.ledger import Ledger
from parley.usage import repository


@dataclass(frozen=True)
class UsagePoint:
    key: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    requests: int


@dataclass(frozen=True)
class UsageReport:
    since: datetime
    until: datetime
    group_by: str
    total: UsagePoint
    series: list[UsagePoint]


@dataclass(frozen=True, slots=True)
class Charge:
    """One usage row: what a model spent on a request (tokens, priced from the catalogue)."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    latency_ms: int | None = None
    ttft_ms: int | None = None
    # Answered from the response cache: no provider was called; `saved_usd` is what it would have cost.
    cache_hit: bool = False
    saved_usd: Decimal = Decimal(0)


async def record(
    session: AsyncSession,
    ledger: Ledger,
    *,
    user_id: uuid.UUID,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: Decimal,
    conversation_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    api_key_id: uuid.UUID | None = None,
    latency_ms: int | None = None,
    ttft_ms: int | None = None,
    cache_hit: bool = False,
    saved_usd: Decimal = Decimal(0),
) -> None:
    await record_charges(
        session,
        ledger,
        [Charge(model, prompt_tokens, completion_tokens, cost_usd, latency_ms, ttft_ms, cache_hit, saved_usd)],
        user_id=user_id,
        conversation_id=conversation_id,
        message_id=message_id,
        api_key_id=api_key_id,
    )


async def record_charges(
    session: AsyncSession,
    ledger: Ledger,
    charges: Sequence[Charge],
    *,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    api_key_id: uuid.UUID | None = None,
) -> None:
    """A usage row for each charge (one statement for all), and their spend counted against the user's and their
    groups' quotas in the same transaction (one more statement). An answer from the cache spent nothing."""
    if not charges:
        return
    await repository.add_many(
        session,
        [
            {
                "id": uuid.uuid4(),
                "user_id": user_id,
                "conversation_id": conversation_id,
                "message_id": message_id,
                "api_key_id": api_key_id,
                "model": charge.model,
                "prompt_tokens": charge.prompt_tokens,
                "completion_tokens": charge.completion_tokens,
                "cost_usd": charge.cost_usd,
                "latency_ms": charge.latency_ms,
                "ttft_ms": charge.ttft_ms,
                "cache_hit": charge.cache_hit,
                "saved_usd": charge.saved_usd,
            }
            for charge in charges
        ],
    )
    tokens, cost_usd = 0, Decimal(0)
    for charge in charges:
        if not charge.cache_hit:
            metrics.billed(
                charge.model,
                input_tokens=charge.prompt_tokens,
                output_tokens=charge.completion_tokens,
                cost_usd=float(charge.cost_usd),
            )
            tokens += charge.prompt_tokens + charge.completion_tokens
            cost_usd += charge.cost_usd
    await quotas_service.add_spend(session, ledger, user_id=user_id, tokens=tokens, cost_usd=cost_usd)


def _cost(prices: Callable[[str], ModelConfig | None], name: str, spent: Usage) -> Decimal:
    config = prices(name)
    return config.cost(spent.prompt_tokens, spent.completion_tokens) if config else Decimal(0)


def price_spent(prices: Callable[[str], ModelConfig | None], spent: Sequence[tuple[str, Usage]]) -> list[Charge]:
    """A charge for each (model, tokens) spent on work around an answer (summaries, titles, abandoned
    fallbacks), priced from the catalogue."""
    return [Charge(name, used.prompt_tokens, used.completion_tokens, _cost(prices, name, used)) for name, used in spent]


def price_completion(
    prices: Callable[[str], ModelConfig | None],
    *,
    model: str,
    usage: Usage,
    abandoned: Sequence[tuple[str, Usage]] = (),
    latency_ms: int | None = None,
    ttft_ms: int | None = None,
    cache_hit: bool = False,
) -> list[Charge]:
    """The charges of one answer: one for each model that spent tokens on it (models abandoned by a fallback
    first), the model that finished it last. `cache_hit`: the response cache answered; `usage` (the stored
    answer's) costs nothing and its price is recorded as saved."""
    final_cost = _cost(prices, model, usage)
    saved_usd = Decimal(0)
    if cache_hit:
        final_cost, saved_usd = Decimal(0), final_cost
    final = Charge(
        model, usage.prompt_tokens, usage.completion_tokens, final_cost, latency_ms, ttft_ms, cache_hit, saved_usd
    )
    return [*price_spent(prices, abandoned), final]


async def record_spent(
    session: AsyncSession,
    ledger: Ledger,
    prices: Callable[[str], ModelConfig | None],
    spent: Sequence[tuple[str, Usage]],
    *,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    api_key_id: uuid.UUID | None = None,
) -> None:
    """A row for each (model, tokens) spent on work around an answer (summaries, titles, abandoned
    fallbacks), priced from the catalogue."""
    await record_charges(
        session,
        ledger,
        price_spent(prices, spent),
        user_id=user_id,
        conversation_id=conversation_id,
        message_id=message_id,
        api_key_id=api_key_id,
    )


async def record_completion(
    session: AsyncSession,
    ledger: Ledger,
    prices: Callable[[str], ModelConfig | None],
    *,
    user_id: uuid.UUID,
    model: str,
    usage: Usage,
    abandoned: Sequence[tuple[str, Usage]] = (),
    conversation_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    api_key_id: uuid.UUID | None = None,
    latency_ms: int | None = None,
    ttft_ms: int | None = None,
    cache_hit: bool = False,
) -> Decimal:
    """Record one answer (`price_completion`'s charges). Returns the cost of the model that finished it."""
    charges = price_completion(
        prices,
        model=model,
        usage=usage,
        abandoned=abandoned,
        latency_ms=latency_ms,
        ttft_ms=ttft_ms,
        cache_hit=cache_hit,
    )
    await record_charges(
        session,
        ledger,
        charges,
        user_id=user_id,
        conversation_id=conversation_id,
        message_id=message_id,
        api_key_id=api_key_id,
    )
    return charges[-1].cost_usd


async def report(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    since: datetime | None,
    until: datetime | None,
    group_by: Literal["day", "model"],
) -> UsageReport:
    since, until = report_period(since, until)
    prompt, completion, cost, count = await repository.totals(session, user_id=user_id, since=since, until=until)
    rows = await repository.series(session, user_id=user_id, since=since, until=until, group_by=group_by)
    return UsageReport(
        since=since,
        until=until,
        group_by=group_by,
        total=UsagePoint("total", prompt, completion, cost, count),
        series=[UsagePoint(*row) for row in rows],
    )


async def conversation_cost(session: AsyncSession, conversation_id: uuid.UUID) -> Decimal:
    """What a conversation has cost so far: its answers and the work around them (titles, summaries, fallbacks)."""
    return await repository.conversation_cost(session, conversation_id)
