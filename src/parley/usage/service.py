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
from parley.models import UsageLog
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
    repository.add(
        session,
        UsageLog(
            id=uuid.uuid4(),
            user_id=user_id,
            conversation_id=conversation_id,
            message_id=message_id,
            api_key_id=api_key_id,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost_usd,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            cache_hit=cache_hit,
            saved_usd=saved_usd,
        ),
    )
    # The quota ledger moves with the usage log, in its transaction. An answer from the cache spent nothing.
    if not cache_hit:
        metrics.billed(model, input_tokens=prompt_tokens, output_tokens=completion_tokens, cost_usd=float(cost_usd))
        await quotas_service.add_spend(
            session, ledger, user_id=user_id, tokens=prompt_tokens + completion_tokens, cost_usd=cost_usd
        )


def _cost(prices: Callable[[str], ModelConfig | None], name: str, spent: Usage) -> Decimal:
    config = prices(name)
    return config.cost(spent.prompt_tokens, spent.completion_tokens) if config else Decimal(0)


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
    for name, used in spent:
        await record(
            session,
            ledger,
            user_id=user_id,
            model=name,
            prompt_tokens=used.prompt_tokens,
            completion_tokens=used.completion_tokens,
            cost_usd=_cost(prices, name, used),
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
    """Record one answer: a row for each model that spent tokens on it (models abandoned by a fallback
    first), priced from the catalogue. Returns the cost of the model that finished it. `cache_hit`: the
    response cache answered; `usage` (the stored answer's) costs nothing and its price is recorded as saved."""
    await record_spent(
        session,
        ledger,
        prices,
        abandoned,
        user_id=user_id,
        conversation_id=conversation_id,
        message_id=message_id,
        api_key_id=api_key_id,
    )
    final_cost = _cost(prices, model, usage)
    saved_usd = Decimal(0)
    if cache_hit:
        final_cost, saved_usd = Decimal(0), final_cost
    await record(
        session,
        ledger,
        user_id=user_id,
        model=model,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_usd=final_cost,
        conversation_id=conversation_id,
        message_id=message_id,
        api_key_id=api_key_id,
        latency_ms=latency_ms,
        ttft_ms=ttft_ms,
        cache_hit=cache_hit,
        saved_usd=saved_usd,
    )
    return final_cost


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
