"""Chat completions for OpenAI clients: stateless (no conversation is stored), routed like any chat, counted
in usage. Whole answers here; streamed ones in `streaming` (inside the HTTP response, so a client that
disconnects cancels the upstream call at once). The usage and quota bookkeeping of every /v1 surface is here."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
import structlog

from parley.auth.principal import Principal
from parley.chat.privacy import PromptPrivacy, Shield
from parley.db import Database
from parley.llm.base import (
    ChatRequest,
    Finish,
    ProviderError,
    TextDelta,
    TokenLogprob,
    ToolCallAssembler,
    ToolCallDelta,
    Usage,
    unreported_usage,
)
from parley.llm.registry import ModelRegistry, RegisteredModel
from parley.llm.response_cache import CacheHit
from parley.llm.router import ModelSwitch, Router
from parley.openai_api.documents import DocumentSources
from parley.openai_api.tool_chunks import tool_calls_body
from parley.plans import service as plans_service
from parley.plans.service import NamedPlan
from parley.policy.plans import Plan
from parley.quotas import service as quotas_service
from parley.quotas.ledger import Ledger
from parley.quotas.service import Reservation
from parley.usage import service as usage_service

_logger = structlog.get_logger("parley.openai_api")


@dataclass
class Accounting:
    """What one completion consumed, per model (a fallback can make it two)."""

    model: str
    started: float = field(default_factory=time.monotonic)
    ttft_ms: int | None = None
    completion_parts: int = 0
    usage: Usage | None = None
    abandoned: list[tuple[str, Usage]] = field(default_factory=list)
    # Answered from the response cache: no provider was called.
    cache_hit: bool = False
    # The completion's hold on the user's quotas, settled when its usage is recorded; `capped`: its length was
    # cut to what the quotas left, so a `length` finish says which limit stopped it.
    reservation: Reservation | None = None
    capped: bool = False
    # False: the reservation is settled by whoever gathers this choice with the request's others (`n` > 1).
    settles: bool = True

    def notice(self, finish_reason: str | None) -> dict[str, str] | None:
        if self.capped and finish_reason == "length" and self.reservation is not None:
            return self.reservation.notice()
        return None


async def protect(
    privacy: PromptPrivacy,
    model: RegisteredModel,
    plan: Plan,
    request: ChatRequest,
    *,
    registry: ModelRegistry,
    sources: DocumentSources | None = None,
) -> tuple[ChatRequest, Shield | None]:
    """The request as the model may see it under the caller's PII policy (README, "PII"): personal data masked
    or pseudonymised with a map of this request's own (/v1 keeps no conversation), or, under `block`, refused
    with a 422 naming the kinds of data in the caller's messages. With `sources`, the caller's documents are
    searched and their excerpts put before the model with the rest of the prompt, under the same policy (as the
    web chat's are: `block` masks the excerpts it cannot refuse)."""
    decision = privacy.decide_for(model, plan, registry)
    if decision.mode == "block":
        # A tool's result is the caller's data as much as their own words.
        said = "\n".join(m.content for m in request.messages if m.role in ("user", "tool"))
        await privacy.refuse_blocked(model, plan, said, registry=registry)
    shield = await privacy.shield(decision)
    if sources is not None:
        request = await sources.add_to(request, model, protect=shield.texts if shield is not None else None)
    if shield is None:
        return request, None
    # Message texts and the arguments of the calls the conversation holds, protected in one pass; the tool
    # fields of each message kept.
    messages = request.messages
    texts = [m.content for m in messages] + [c.arguments for m in messages for c in m.tool_calls]
    protected = iter(await shield.texts(texts))
    contents = [next(protected) for _ in messages]
    rewritten = [
        replace(
            m,
            content=content,
            tool_calls=tuple(replace(c, arguments=next(protected)) for c in m.tool_calls),
        )
        for m, content in zip(messages, contents, strict=True)
    ]
    return replace(request, messages=rewritten), shield


async def plan_of(database: Database, principal: Principal, seeds: Mapping[str, Plan]) -> NamedPlan:
    """The caller's plan, read in a unit of work of its own: the /v1 routes hold no session while answering."""
    async with database.session() as session:
        return await plans_service.plan_for_user(session, principal.user, seeds=seeds)


async def reserve(
    ledger: Ledger,
    principal: Principal,
    plan: NamedPlan,
    model: RegisteredModel,
    request: ChatRequest,
    *,
    ttl_seconds: float,
) -> tuple[ChatRequest, Reservation, bool]:
    """Admit a completion against the caller's quotas and cut its length to what
    they leave: the request to send, the reservation, and whether it was cut. A request whose prompt alone
    takes all that is left is refused (429 `insufficient_quota`) by the admission."""
    prompt = quotas_service.estimate_prompt_tokens(
        [
            *(message.content for message in request.messages),
            *(call.arguments for message in request.messages for call in message.tool_calls),
            # The tools' schemas are part of the prompt the model reads.
            *(json.dumps(dict(tool.parameters)) + (tool.description or "") for tool in request.tools),
        ]
    )
    # `n` choices are `n` generations of the prompt: the hold covers them all, and what the quotas leave is
    # shared among them.
    choices = request.choices
    reservation = await quotas_service.admit(
        ledger,
        user_id=principal.user_id,
        plan=plan,
        model=model.config,
        prompt_tokens=prompt * choices,
        max_tokens=request.params.max_tokens * choices if request.params.max_tokens is not None else None,
        ttl_seconds=ttl_seconds,
    )
    allowance = reservation.output_allowance(prompt_tokens=prompt * choices, model=model.config)
    if allowance is not None:
        allowance //= choices
    if allowance is None or allowance >= (request.params.max_tokens or model.config.max_output_tokens):
        return request, reservation, False
    return replace(request, params=replace(request.params, max_tokens=allowance)), reservation, True


def plan_models(reservation: Reservation | None) -> list[str] | None:
    """The models the caller's plan includes (None: any), which a fallback must stay among."""
    return reservation.plan.plan.models if reservation is not None else None


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


async def complete(
    router: Router,
    database: Database,
    ledger: Ledger,
    principal: Principal,
    model: RegisteredModel,
    request: ChatRequest,
    *,
    reservation: Reservation | None = None,
    capped: bool = False,
    shield: Shield | None = None,
    sources: DocumentSources | None = None,
) -> dict[str, Any]:
    """A whole `chat.completion` object (with pseudonyms put back when `shield` pseudonymised the prompt; with
    `sources`, `message.citations` beside OpenAI's fields), with `request.choices` choices.

    Each choice is a generation of its own (its own provider call, fallbacks and usage record), run concurrently
    with the others: `usage` is their sum, so the prompt counts once per choice, as each call was billed for it
    (README, "Several choices"). The reservation is settled once all are recorded."""
    count = request.choices
    if count == 1:
        choice, accounting = await _complete_choice(
            router, database, ledger, principal, model, request, 0, reservation, capped, shield, sources
        )
        return _completion_body(choice, [accounting])
    single = replace(request, choices=1)
    tasks = [
        asyncio.create_task(
            _complete_choice(
                router,
                database,
                ledger,
                principal,
                model,
                single,
                index,
                reservation,
                capped,
                shield,
                sources,
                settles=False,
            )
        )
        for index in range(count)
    ]
    try:
        done = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        with anyio.CancelScope(shield=True):
            await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await settle(database, ledger, reservation)
    return _completion_body([c for c, _ in done], [a for _, a in done])


def _completion_body(choices: dict[str, Any] | list[dict[str, Any]], accountings: list[Accounting]) -> dict[str, Any]:
    listed = choices if isinstance(choices, list) else [choices]
    usages = [final_usage(accounting) for accounting in accountings]
    usage = Usage(sum(u.prompt_tokens for u in usages), sum(u.completion_tokens for u in usages))
    notice = next((n for a, c in zip(accountings, listed, strict=True) if (n := a.notice(c["finish_reason"]))), None)
    return {
        **({"limit": notice} if notice else {}),
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": accountings[0].model,
        "system_fingerprint": None,
        "choices": listed,
        "usage": usage_body(usage),
    }


async def settle(database: Database, ledger: Ledger, reservation: Reservation | None) -> None:
    """End the hold of a request whose choices were recorded one by one."""
    if reservation is None:
        return
    try:
        async with database.session() as session:
            await quotas_service.settle(session, ledger, reservation)
    except Exception as exc:  # as in `record_usage`: the answer was delivered
        _logger.error("quota_settle_failed", error=str(exc))


async def _complete_choice(
    router: Router,
    database: Database,
    ledger: Ledger,
    principal: Principal,
    model: RegisteredModel,
    request: ChatRequest,
    index: int,
    reservation: Reservation | None,
    capped: bool,
    shield: Shield | None,
    sources: DocumentSources | None,
    *,
    settles: bool = True,
) -> tuple[dict[str, Any], Accounting]:
    """One choice of a whole completion, with what it consumed (recorded)."""
    accounting = Accounting(model=model.config.name, reservation=reservation, capped=capped, settles=settles)
    if sources is not None and index == 0:  # summaries of whole documents are calls to a model too (once)
        accounting.abandoned.extend(sources.grounding.spent)
    parts: list[str] = []
    logprobs: list[TokenLogprob] = []
    calls = ToolCallAssembler()
    call_parts = 0
    parts_before_model = 0  # written by models abandoned before the one answering, counted in their records
    finish = "stop"
    stop_sequence: str | None = None
    try:
        answer = router.answer(
            model,
            request,
            user_id=principal.user_id,
            allowed=plan_models(reservation),
            grounded=sources is not None,
            fresh=request.params.logprobs,
        )
        async for event in answer:
            if type(event) is TextDelta:
                if accounting.ttft_ms is None:
                    accounting.ttft_ms = int((time.monotonic() - accounting.started) * 1000)
                parts.append(event.text)
                logprobs.extend(event.logprobs)
            elif type(event) is ToolCallDelta:
                if accounting.ttft_ms is None:
                    accounting.ttft_ms = int((time.monotonic() - accounting.started) * 1000)
                calls.add(event)
                call_parts += 1
            elif isinstance(event, ModelSwitch):
                switched(accounting, event)
                parts_before_model = len(parts)
                logprobs.clear()  # the answer's tokens are those of the model that finished it
            elif isinstance(event, Finish):
                finish = event.reason
                stop_sequence = event.stop_sequence
                accounting.usage = event.usage
            elif isinstance(event, CacheHit):
                accounting.cache_hit = True
    finally:
        accounting.completion_parts = len(parts) - parts_before_model + call_parts
        await record_usage(database, ledger, router, principal, request, accounting)
    message: dict[str, Any] = {"role": "assistant", "content": restored(shield, "".join(parts)), "refusal": None}
    made = calls.calls()
    if made:
        message["tool_calls"] = tool_calls_body(made, restore=shield.restore if shield is not None else None)
        if not parts:
            message["content"] = None
    if sources is not None:
        message["citations"] = sources.citations(message["content"] or "")
    choice = {
        "index": index,
        "message": message,
        "logprobs": logprobs_body(logprobs) if request.params.logprobs else None,
        "finish_reason": finish,
    }
    if stop_sequence is not None:
        choice["stop_reason"] = stop_sequence  # as vLLM names it: which of `stop` ended the answer
    return choice, accounting


def logprobs_body(tokens: list[TokenLogprob] | tuple[TokenLogprob, ...]) -> dict[str, Any]:
    """Chat Completions' `logprobs` of a choice (or of a chunk's tokens)."""
    return {
        "content": [
            {
                "token": token.token,
                "logprob": token.logprob,
                "bytes": list(token.token.encode()),
                "top_logprobs": [
                    {"token": text, "logprob": logprob, "bytes": list(text.encode())} for text, logprob in token.top
                ],
            }
            for token in tokens
        ],
        "refusal": None,
    }


def restored(shield: Shield | None, text: str) -> str:
    return text if shield is None else shield.restore(text)


def switched(accounting: Accounting, event: ModelSwitch) -> None:
    """A fallback took over: what the abandoned model spent is recorded apart (also the Anthropic surface's)."""
    if event.spent is not None:
        accounting.abandoned.append((event.from_model, event.spent))
    accounting.model = event.to_model


def final_usage(accounting: Accounting) -> Usage:
    return accounting.usage or Usage(prompt_tokens=0, completion_tokens=accounting.completion_parts)


def usage_body(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


async def record_usage(
    database: Database,
    ledger: Ledger,
    router: Router,
    principal: Principal,
    request: ChatRequest,
    accounting: Accounting,
) -> None:
    """Write the usage row(s) and settle the quota reservation, in a unit of work of its own (every /v1 surface:
    chat completions and Anthropic's messages)."""
    usage = accounting.usage
    if usage is None:
        # Cut short or failed before the provider reported usage: what it generated, with the prompt we count
        # ourselves; nothing at all when it was refused before the first token.
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
            if accounting.reservation is not None and accounting.settles:
                await quotas_service.settle(session, ledger, accounting.reservation)
    except Exception as exc:  # the answer was delivered; a lost usage row is logged, not raised at the client
        _logger.error("usage_record_failed", error=str(exc), model=accounting.model)
