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
from parley.kit.client_hangup import unless_the_client_leaves
from parley.kit.sse import EventStreamResponse
from parley.llm.base import ChatRequest, ProviderError
from parley.llm.router import Router
from parley.openai_api import service as completions
from parley.plans import service as plans_service
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
# Nobody reads it: the status nginx logs for a client that hung up before the answer.
_CLIENT_CLOSED_REQUEST = 499


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
    llm_router: Router = request.app.state.router
    chat_request = await to_chat_request(body, images)
    database = request.app.state.database
    plan = await completions.plan_of(database, principal, seeds)
    async with quotas_service.refusals_counted(database, principal.user_id):
        limit_headers = await plans_service.admit_request(limiter, principal, plan)
        model = llm_router.resolve(body.model, chat_request.messages, allowed=plan.plan.models, request=chat_request)
        plans_service.require_model_access(plan, model.config.name)
        chat_request, shield = await completions.protect(
            request.app.state.chat_engine.privacy, model, plan.plan, chat_request, registry=llm_router.registry
        )
        chat_request, reservation, capped = await completions.reserve(
            ledger,
            principal,
            plan,
            model,
            chat_request,
            ttl_seconds=request.app.state.settings.limits.reservation_seconds,
        )
    try:
        if body.stream:
            stream = service.MessageStream(
                llm_router,
                database,
                ledger,
                principal,
                model,
                chat_request,
                prompt_estimate=_prompt_estimate(chat_request),
                open_streams=request.app.state.open_streams,
                reservation=reservation,
                capped=capped,
                shield=shield,
            )
            # The status waits for the first token: when no model can start the answer, it is an error status.
            opened = await unless_the_client_leaves(request, stream.open())
            if opened is None:
                return Response(status_code=_CLIENT_CLOSED_REQUEST)
            streamed = EventStreamResponse(opened.events())
            streamed.headers.update(limit_headers)
            return streamed
        completion = await unless_the_client_leaves(
            request,
            completions.complete(
                llm_router,
                database,
                ledger,
                principal,
                model,
                chat_request,
                reservation=reservation,
                capped=capped,
                shield=shield,
            ),
        )
    except ProviderError as exc:
        return upstream_failure_response(exc)
    if completion is None:
        return Response(status_code=_CLIENT_CLOSED_REQUEST)
    return JSONResponse(service.whole_message(completion), headers=limit_headers)


@router.post("/count_tokens", responses=_ERRORS, summary="Count the tokens of a message's prompt (Anthropic format)")
async def count_tokens(
    body: CountTokensRequest,
    request: Request,
    principal: AnthropicUser,
    seeds: SeededPlans,
    limiter: RateLimiterDep,
    images: ImageLoaderDep,
) -> JSONResponse:
    """`{"input_tokens": N}`: the messages (system prompt included) counted by the model's own tokenizer, as
    Parley counts a prompt's tokens in usage, plus an estimate for the tools' schemas. Counted against the plan's
    requests per minute (a remote model's count is a call to its API); no usage is recorded."""
    llm_router: Router = request.app.state.router
    chat_request = await to_chat_request(body, images)
    plan = await completions.plan_of(request.app.state.database, principal, seeds)
    async with quotas_service.refusals_counted(request.app.state.database, principal.user_id):
        limit_headers = await plans_service.admit_request(limiter, principal, plan)
    model = llm_router.resolve(body.model, chat_request.messages, allowed=plan.plan.models, request=chat_request)
    plans_service.require_model_access(plan, model.config.name)
    try:
        counted = await model.model.count_tokens(chat_request.messages)
    except ProviderError as exc:
        return upstream_failure_response(exc)
    tools = quotas_service.estimate_prompt_tokens(_tool_texts(chat_request)) if chat_request.tools else 0
    return JSONResponse({"input_tokens": counted + tools}, headers=limit_headers)


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
