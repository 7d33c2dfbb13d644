"""What a streamed message spent, recorded as `/v1/chat/completions` records it (usage row, quota settled).

The same steps as `openai_api.service`'s private `_record` / `_switched`, which this surface cannot import
without reaching into another package's internals; a candidate to become the one shared copy."""

from __future__ import annotations

import time

import structlog

from parley.auth.principal import Principal
from parley.db import Database
from parley.llm.base import ChatRequest, ProviderError, Usage, unreported_usage
from parley.llm.router import ModelSwitch, Router
from parley.openai_api.service import Accounting
from parley.quotas import service as quotas_service
from parley.quotas.ledger import Ledger
from parley.usage import service as usage_service

_logger = structlog.get_logger("parley.anthropic_api")


def switched(accounting: Accounting, event: ModelSwitch) -> None:
    """A fallback took over: what the abandoned model spent is recorded apart."""
    if event.spent is not None:
        accounting.abandoned.append((event.from_model, event.spent))
    accounting.model = event.to_model


def final_usage(accounting: Accounting) -> Usage:
    return accounting.usage or Usage(prompt_tokens=0, completion_tokens=accounting.completion_parts)


async def record(
    database: Database,
    ledger: Ledger,
    router: Router,
    principal: Principal,
    request: ChatRequest,
    accounting: Accounting,
) -> None:
    """Write the usage row(s) and settle the quota reservation, in a unit of work of its own."""
    usage = accounting.usage
    if usage is None:
        # Cut short or failed before the provider reported usage: what it generated, with the prompt counted
        # by the model's own tokenizer; nothing at all when it was refused before the first token.
        registered = router.registry.get(accounting.model)
        prompt = 0
        if registered is not None and accounting.completion_parts:
            try:
                prompt = await registered.model.count_tokens(request.messages)
            except ProviderError:
                prompt = 0
        usage = unreported_usage(prompt_tokens=prompt, generated_tokens=accounting.completion_parts)
    latency_ms = int((time.monotonic() - accounting.started) * 1000)
    try:
        async with database.session() as session:
            await usage_service.record_completion(
                session,
                ledger,
                lambda name: found.config if (found := router.registry.get(name)) else None,
                user_id=principal.user_id,
                api_key_id=principal.api_key_id,
                model=accounting.model,
                usage=usage,
                abandoned=accounting.abandoned,
                latency_ms=latency_ms,
                ttft_ms=accounting.ttft_ms,
                cache_hit=accounting.cache_hit,
            )
            if accounting.reservation is not None:
                await quotas_service.settle(session, ledger, accounting.reservation)
    except Exception as exc:  # the answer was delivered; a lost usage row is logged, not raised at the client
        _logger.error("usage_record_failed", error=str(exc), model=accounting.model)
