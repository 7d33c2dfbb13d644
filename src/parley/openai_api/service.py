"""Chat completions for OpenAI clients: stateless (no conversation is stored), routed like any chat, counted
in usage. Streaming happens inside the HTTP response, so a client that disconnects cancels the upstream call
at once."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog

from parley.auth.principal import Principal
from parley.db import Database
from parley.llm.base import ChatMessage, ChatRequest, Finish, GenerationParams, ProviderError, TextDelta, Usage
from parley.llm.registry import RegisteredModel
from parley.llm.router import ModelSwitch, Router
from parley.openai_api.errors import openai_error_body
from parley.openai_api.schemas import ChatCompletionRequest
from parley.usage import service as usage_service

_logger = structlog.get_logger("parley.openai_api")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "user"}


@dataclass
class Accounting:
    """What one completion consumed, per model (a fallback can make it two)."""

    model: str
    started: float = field(default_factory=time.monotonic)
    ttft_ms: int | None = None
    completion_parts: int = 0
    usage: Usage | None = None
    abandoned: list[tuple[str, Usage]] = field(default_factory=list)


def to_chat_request(body: ChatCompletionRequest) -> ChatRequest:
    messages = [ChatMessage(_ROLES[m.role], m.text()) for m in body.messages]  # type: ignore[arg-type]
    params = GenerationParams(
        temperature=body.temperature,
        top_p=body.top_p,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        stop=body.stop_sequences(),
    )
    return ChatRequest(messages=messages, params=params)


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


async def complete(
    router: Router, database: Database, principal: Principal, model: RegisteredModel, request: ChatRequest
) -> dict[str, Any]:
    """A whole `chat.completion` object."""
    accounting = Accounting(model=model.config.name)
    parts: list[str] = []
    finish = "stop"
    try:
        async for event in router.stream(model, request):
            if type(event) is TextDelta:
                if accounting.ttft_ms is None:
                    accounting.ttft_ms = int((time.monotonic() - accounting.started) * 1000)
                parts.append(event.text)
            elif isinstance(event, ModelSwitch):
                _switched(accounting, event)
            elif isinstance(event, Finish):
                finish = event.reason
                accounting.usage = event.usage
    finally:
        accounting.completion_parts = len(parts)
        await _record(database, router, principal, request, accounting)
    usage = _final_usage(accounting)
    return {
        "id": _completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": accounting.model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(parts), "refusal": None},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": _usage_body(usage),
    }


async def stream(
    router: Router,
    database: Database,
    principal: Principal,
    model: RegisteredModel,
    request: ChatRequest,
    *,
    include_usage: bool,
) -> AsyncGenerator[bytes, None]:
    """`chat.completion.chunk` events in OpenAI's exact format, then `data: [DONE]`."""
    accounting = Accounting(model=model.config.name)
    completion_id = _completion_id()
    created = int(time.time())
    parts = 0

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": accounting.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        return b"data: " + _dumps(payload).encode() + b"\n\n"

    # Text chunks share everything but the text: encode the frame once per model, splice the text in.
    prefix = suffix = b""

    def frame() -> tuple[bytes, bytes]:
        head, _, tail = chunk({"content": "\x00"}).partition(b'"\\u0000"')
        return head, tail

    try:
        yield chunk({"role": "assistant", "content": ""})
        prefix, suffix = frame()
        async for event in router.stream(model, request):
            if type(event) is TextDelta:
                if accounting.ttft_ms is None:
                    accounting.ttft_ms = int((time.monotonic() - accounting.started) * 1000)
                parts += 1
                yield prefix + _dumps(event.text).encode() + suffix
            elif isinstance(event, ModelSwitch):
                _switched(accounting, event)
                prefix, suffix = frame()
            elif isinstance(event, Finish):
                accounting.usage = event.usage
                accounting.completion_parts = parts
                yield chunk({}, event.reason)
        accounting.completion_parts = parts
        if include_usage:
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": accounting.model,
                "system_fingerprint": None,
                "choices": [],
                "usage": _usage_body(_final_usage(accounting)),
            }
            yield b"data: " + _dumps(payload).encode() + b"\n\n"
    except ProviderError as exc:
        yield b"data: " + _dumps(openai_error_body(502, str(exc))).encode() + b"\n\n"
    finally:
        accounting.completion_parts = parts
        # Shielded: a client that hung up still gets its tokens counted.
        with anyio.CancelScope(shield=True):
            await _record(database, router, principal, request, accounting)
    yield b"data: [DONE]\n\n"


def _switched(accounting: Accounting, event: ModelSwitch) -> None:
    if event.spent is not None:
        accounting.abandoned.append((event.from_model, event.spent))
    accounting.model = event.to_model


def _final_usage(accounting: Accounting) -> Usage:
    return accounting.usage or Usage(prompt_tokens=0, completion_tokens=accounting.completion_parts)


def _usage_body(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


async def _record(
    database: Database, router: Router, principal: Principal, request: ChatRequest, accounting: Accounting
) -> None:
    usage = accounting.usage
    if usage is None:
        # Cut short before the provider reported usage: count the prompt ourselves.
        registered = router.registry.get(accounting.model)
        prompt = 0
        if registered is not None:
            try:
                prompt = await registered.model.count_tokens(request.messages)
            except ProviderError:
                prompt = 0
        usage = Usage(prompt_tokens=prompt, completion_tokens=accounting.completion_parts)
    latency_ms = int((time.monotonic() - accounting.started) * 1000)
    try:
        async with database.session() as session:
            usage_service.record_completion(
                session,
                lambda name: found.config if (found := router.registry.get(name)) else None,
                user_id=principal.user_id,
                api_key_id=principal.api_key_id,
                model=accounting.model,
                usage=usage,
                abandoned=accounting.abandoned,
                latency_ms=latency_ms,
                ttft_ms=accounting.ttft_ms,
            )
    except Exception as exc:  # the answer was delivered; a lost usage row is logged, not raised at the client
        _logger.error("usage_record_failed", error=str(exc), model=accounting.model)
