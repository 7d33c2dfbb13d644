"""`POST /v1/completions`: OpenAI's legacy text completions, for the tools that still send them.

Parley's catalogue holds chat models, so a prompt is sent to them as one user turn (no chat template of Parley's
own around it): any model of the caller's plan takes it, with the plan's limits, quotas, usage and fallbacks as
`/v1/chat/completions`, whose service does the work. `prompt` is a string or a list of strings (one set of `n`
choices per prompt, in order); token arrays, `echo`, `suffix`, `best_of` > 1 and `logprobs` are 400s naming them
(a chat model cannot continue text in place or score the prompt). A stream carries one choice: a list of prompts
or `n` > 1 with `stream` is a 400 naming `stream`."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response

from parley.chat.privacy import Shield
from parley.errors import BadRequest
from parley.kit.client_hangup import client_closed, event_stream_once_open, unless_the_client_leaves
from parley.kit.sse import data_event
from parley.llm.base import ChatMessage, ChatRequest, Finish, GenerationParams, ProviderError, TextDelta, Usage
from parley.openai_api import service
from parley.openai_api.admission import Parts, admission
from parley.openai_api.auth import OpenAIUser
from parley.openai_api.errors import failure_status, openai_error_body, upstream_failure_response
from parley.openai_api.routed_answer import RoutedAnswer
from parley.openai_api.schemas import MAX_CHOICES
from parley.plans.dependencies import SeededPlans
from parley.policy.rates import RateLimiterDep
from parley.quotas.dependencies import QuotaLedgerDep

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
# OpenAI's default length of a legacy completion.
DEFAULT_MAX_TOKENS = 16
MAX_PROMPTS = 20

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {"application/json": {}}}
    for status, description in (
        (400, "Invalid request, or a parameter Parley does not support, naming it (OpenAI error shape)"),
        (401, "Invalid API key (OpenAI error shape)"),
        (403, "The key lacks the `chat` scope, the account is suspended, or the plan does not include the model"),
        (404, "Unknown model"),
        (429, "The plan's requests per minute or a quota are used up"),
        (502, "No configured model could answer (also when streaming: the status comes with the first token)"),
    )
}


class StreamOptionsIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=100)
    # Token arrays (lists of integers) are refused by name where the prompt is read (`_prompts`).
    prompt: str | list[Any]
    max_tokens: int | None = Field(default=DEFAULT_MAX_TOKENS, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = Field(default=None)
    n: int = Field(default=1, ge=1, le=MAX_CHOICES)
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    stream: bool = False
    stream_options: StreamOptionsIn | None = None
    # Refused when set (see the module's docstring).
    echo: bool | None = None
    suffix: str | None = None
    best_of: int | None = None
    logprobs: int | None = None
    logit_bias: dict[str, float] | None = None


def _prompts(body: CompletionRequest) -> list[str]:
    if isinstance(body.prompt, str):
        return [body.prompt]
    if not body.prompt or len(body.prompt) > MAX_PROMPTS:
        raise BadRequest(f"prompt holds 1 to {MAX_PROMPTS} prompts", param="prompt")
    prompts = []
    for index, prompt in enumerate(body.prompt):
        if not isinstance(prompt, str):
            raise BadRequest(
                "token arrays are not supported as a prompt on /v1/completions: send text", param=f"prompt.{index}"
            )
        prompts.append(prompt)
    return prompts


def _refuse_unsupported(body: CompletionRequest, prompts: list[str]) -> None:
    if body.echo:
        raise BadRequest("echo is not supported: Parley's chat models do not repeat the prompt", param="echo")
    if body.suffix:
        raise BadRequest("suffix (text insertion) is not supported", param="suffix")
    if body.best_of is not None and body.best_of > 1:
        raise BadRequest("best_of is not supported: ask for n choices", param="best_of")
    if body.logprobs is not None:
        raise BadRequest("logprobs are not supported on /v1/completions", param="logprobs")
    if body.logit_bias:
        raise BadRequest("logit_bias is not supported on /v1/completions", param="logit_bias")
    if isinstance(body.stop, list) and len(body.stop) > 4:
        raise BadRequest("at most 4 stop sequences", param="stop")
    if body.stream and (len(prompts) > 1 or body.n > 1):
        raise BadRequest("a streamed completion carries one choice: one prompt and n = 1", param="stream")


def _chat_request(body: CompletionRequest, prompt: str) -> ChatRequest:
    stop = () if body.stop is None else (body.stop,) if isinstance(body.stop, str) else tuple(body.stop)
    params = GenerationParams(
        temperature=body.temperature,
        top_p=body.top_p,
        max_tokens=body.max_tokens,
        stop=stop,
        seed=body.seed,
        presence_penalty=body.presence_penalty,
        frequency_penalty=body.frequency_penalty,
    )
    return ChatRequest(messages=[ChatMessage("user", prompt)], params=params, choices=body.n)


@router.post(
    "/completions",
    responses={200: {"content": {"application/json": {}, "text/event-stream": {}}}, **_ERRORS},
    response_model=None,
    summary="Create a text completion (OpenAI's legacy format; streams with stream=true)",
)
async def create_completion(
    body: CompletionRequest,
    request: Request,
    principal: OpenAIUser,
    seeds: SeededPlans,
    limiter: RateLimiterDep,
    ledger: QuotaLedgerDep,
) -> Response:
    prompts = _prompts(body)
    _refuse_unsupported(body, prompts)
    async with admission(Parts.of(request, ledger), principal, seeds, limiter) as gate:
        admitted = [await gate.admit(body.model, _chat_request(body, prompt)) for prompt in prompts]
    limit_headers = gate.limit_headers
    completion_id, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
    try:
        if body.stream:
            [only] = admitted
            answer = gate.routed_answer(only, open_streams=request.app.state.open_streams)
            include_usage = bool(body.stream_options and body.stream_options.include_usage)

            def chunks(opened: RoutedAnswer) -> AsyncGenerator[bytes, None]:
                return _chunks(opened, only.shield, completion_id, created, include_usage=include_usage)

            return await event_stream_once_open(request, answer, chunks, limit_headers)
        choices: list[dict[str, Any]] = []
        usages: list[Usage] = []
        model_name = ""
        for each in admitted:
            whole = await unless_the_client_leaves(request, gate.complete(each))
            if whole is None:
                return client_closed()
            model_name = model_name or whole["model"]
            usages.append(Usage(whole["usage"]["prompt_tokens"], whole["usage"]["completion_tokens"]))
            for choice in whole["choices"]:
                choices.append(
                    {
                        "text": choice["message"]["content"] or "",
                        "index": len(choices),
                        "logprobs": None,
                        "finish_reason": choice["finish_reason"],
                    }
                )
    except ProviderError as exc:
        return upstream_failure_response(exc)
    usage = Usage(sum(u.prompt_tokens for u in usages), sum(u.completion_tokens for u in usages))
    return JSONResponse(
        {
            "id": completion_id,
            "object": "text_completion",
            "created": created,
            "model": model_name,
            "system_fingerprint": None,
            "choices": choices,
            "usage": service.usage_body(usage),
        },
        headers=limit_headers,
    )


async def _chunks(
    answer: RoutedAnswer, shield: Shield | None, completion_id: str, created: int, *, include_usage: bool
) -> AsyncGenerator[bytes, None]:
    """The body of a streamed text completion: `text_completion` chunks, the last with the finish reason, the
    usage chunk when asked, then `[DONE]`; a failure after the first chunk is an error event, as OpenAI sends."""
    restorer = shield.restorer() if shield is not None else None

    def chunk(text: str, finish_reason: str | None) -> bytes:
        payload = {
            "id": completion_id,
            "object": "text_completion",
            "created": created,
            "model": answer.accounting.model,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}],
        }
        return data_event(payload)

    try:
        async with aclosing(answer.events()) as events:
            async for event in events:
                if type(event) is TextDelta:
                    text = event.text if restorer is None else restorer.feed(event.text)
                    if text:
                        yield chunk(text, None)
                elif isinstance(event, Finish):
                    tail = restorer.flush() if restorer is not None else ""
                    yield chunk(tail, event.reason)
        if answer.stopped is not None:
            yield data_event(openai_error_body(403, answer.stopped))
        elif include_usage:
            payload = {
                "id": completion_id,
                "object": "text_completion",
                "created": created,
                "model": answer.accounting.model,
                "choices": [],
                "usage": service.usage_body(service.final_usage(answer.accounting)),
            }
            yield data_event(payload)
    except ProviderError as exc:
        yield data_event(openai_error_body(failure_status(exc), str(exc)))
    yield b"data: [DONE]\n\n"
