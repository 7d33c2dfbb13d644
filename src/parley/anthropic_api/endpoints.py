"""`POST /v1/messages` and `POST /v1/messages/count_tokens`: Anthropic's Messages API over Parley's models, with
Parley API keys, plans, rate limits, quotas and usage exactly as `/v1/chat/completions` (whose service this
reuses)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from parley.anthropic_api import service
from parley.anthropic_api.auth import AnthropicUser
from parley.anthropic_api.errors import upstream_failure_response
from parley.anthropic_api.schemas import CountTokensRequest, MessageRequest
from parley.anthropic_api.translate import to_chat_request
from parley.images.dependencies import ImageLoaderDep
from parley.kit.client_hangup import client_closed, event_stream_once_open, unless_the_client_leaves
from parley.llm.base import ChatRequest, ProviderError
from parley.openai_api.admission import Parts, admission
from parley.plans.dependencies import SeededPlans
from parley.policy.rates import RateLimiterDep
from parley.quotas import service as quotas_service
from parley.quotas.dependencies import QuotaLedgerDep

router = APIRouter(prefix="/v1/messages", tags=["anthropic-compatible"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {"application/json": {}}}
    for status, description in (
        (400, "Invalid request, naming the parameter (Anthropic error shape)"),
        (401, "Invalid API key (`x-api-key` or bearer)"),
        (403, "The key lacks the `chat` scope, the account is suspended, or the plan does not include the model"),
        (404, "Unknown model"),
        (422, "Never sent: a malformed request is a 400, as Anthropic answers it"),
        (429, "The plan's requests per minute or a quota are used up; see retry-after"),
        (500, "The model refused Parley's configuration"),
        (529, "No configured model could answer now (also when streaming: the status comes with the first token)"),
    )
}


@router.post(
    "",
    responses={200: {"content": {"application/json": {}, "text/event-stream": {}}}, **_ERRORS},
    response_model=None,
    summary="Create a message (Anthropic format; streams with stream=true)",
)
async def create_message(
    body: MessageRequest,
    request: Request,
    principal: AnthropicUser,
    seeds: SeededPlans,
    limiter: RateLimiterDep,
    ledger: QuotaLedgerDep,
    images: ImageLoaderDep,
) -> Response:
    chat_request = await to_chat_request(body, images)
    async with admission(Parts.of(request, ledger), principal, seeds, limiter) as gate:
        admitted = await gate.admit(body.model, chat_request)
    try:
        if body.stream:
            stream = service.MessageStream(
                gate.routed_answer(admitted, open_streams=request.app.state.open_streams),
                prompt_estimate=_prompt_estimate(admitted.request),
                shield=admitted.shield,
            )
            return await event_stream_once_open(request, stream, service.MessageStream.events, gate.limit_headers)
        completion = await unless_the_client_leaves(request, gate.complete(admitted))
    except ProviderError as exc:
        return upstream_failure_response(exc)
    if completion is None:
        return client_closed()
    return JSONResponse(service.whole_message(completion), headers=gate.limit_headers)


@router.post("/count_tokens", responses=_ERRORS, summary="Count the tokens of a message's prompt (Anthropic format)")
async def count_tokens(
    body: CountTokensRequest,
    request: Request,
    principal: AnthropicUser,
    seeds: SeededPlans,
    limiter: RateLimiterDep,
    ledger: QuotaLedgerDep,
    images: ImageLoaderDep,
) -> JSONResponse:
    """`{"input_tokens": N}`: the messages (system prompt included) counted by the model's own tokenizer, as
    Parley counts a prompt's tokens in usage, plus an estimate for the tools' schemas. Counted against the plan's
    requests per minute (a remote model's count is a call to its API); no usage is recorded."""
    chat_request = await to_chat_request(body, images)
    async with admission(Parts.of(request, ledger), principal, seeds, limiter) as gate:
        model = gate.resolve(body.model, chat_request)
    try:
        counted = await model.model.count_tokens(chat_request.messages)
    except ProviderError as exc:
        return upstream_failure_response(exc)
    tools = quotas_service.estimate_prompt_tokens(_tool_texts(chat_request)) if chat_request.tools else 0
    return JSONResponse({"input_tokens": counted + tools}, headers=gate.limit_headers)


def _tool_texts(request: ChatRequest) -> list[str]:
    return [json.dumps(dict(tool.parameters)) + tool.name + (tool.description or "") for tool in request.tools]


def _prompt_estimate(request: ChatRequest) -> int:
    """The prompt's size for `message_start` (the model's own count comes in `message_delta`), estimated as
    the quota admission estimates it, without a call to the model."""
    return quotas_service.estimate_prompt_tokens(
        [
            *(message.content for message in request.messages),
            *(call.arguments for message in request.messages for call in message.tool_calls),
            *_tool_texts(request),
        ]
    )
