from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, Response

from parley.anthropic_api import models as anthropic_models
from parley.anthropic_api.auth import AnthropicUser
from parley.auth.principal import Principal
from parley.errors import NotFound
from parley.images.dependencies import ImageLoaderDep
from parley.kit.client_hangup import client_closed, event_stream_once_open, unless_the_client_leaves
from parley.llm.base import ProviderError
from parley.llm.config import AUTO_MODEL, ModelConfig
from parley.llm.router import Router
from parley.openai_api import documents, service
from parley.openai_api.admission import Parts, admission
from parley.openai_api.auth import OpenAIUser
from parley.openai_api.errors import upstream_failure_response
from parley.openai_api.schemas import ChatCompletionRequest
from parley.openai_api.streaming import CompletionStream
from parley.openai_api.translate import to_chat_request
from parley.plans.dependencies import SeededPlans
from parley.policy.plans import usable_models
from parley.policy.rates import RateLimiterDep
from parley.quotas.dependencies import QuotaLedgerDep

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {"application/json": {}}}
    for status, description in (
        (401, "Invalid API key (OpenAI error shape)"),
        (403, "The key lacks the `chat` scope, the account is suspended, or the plan does not include the model"),
        (400, "Invalid request, naming the parameter (OpenAI error shape)"),
        (404, "Unknown model"),
        (429, "The plan's requests per minute (per user, per API key) are used up, or the models are rate-limited"),
        (502, "No configured model could answer (also when streaming: the status comes with the first token)"),
    )
}


def _model_object(config: ModelConfig | None, name: str, created: int) -> dict[str, Any]:
    """A model in OpenAI's format, with what Parley knows of it beside: its capabilities (what a request may
    ask of it), its context window and longest answer, its display name. `auto` is Parley's router."""
    if config is None:
        return {"id": name, "object": "model", "created": created, "owned_by": "parley", "capabilities": None}
    return {
        "id": config.name,
        "object": "model",
        "created": created,
        "owned_by": config.provider,
        "name": config.display_name,
        "context_window": config.context_window,
        "max_output_tokens": config.max_output_tokens,
        "capabilities": config.capability_flags,
    }


async def _usable(request: Request, principal: Principal, seeds: SeededPlans) -> list[ModelConfig]:
    llm_router: Router = request.app.state.router
    plan = await service.plan_of(request.app.state.database, principal, seeds)
    usable = set(usable_models(plan.plan, [m.config.name for m in llm_router.registry]))
    return [m.config for m in llm_router.registry if m.config.name in usable]


@router.get("/models", responses=_ERRORS, summary="The models this Parley offers (OpenAI or Anthropic format)")
async def list_models(
    request: Request,
    principal: AnthropicUser,
    seeds: SeededPlans,
    limit: Annotated[int, Query(ge=1, le=anthropic_models.MAX_LIMIT)] = anthropic_models.DEFAULT_LIMIT,
    after_id: str | None = None,
    before_id: str | None = None,
) -> dict[str, Any]:
    """The models the caller's plan includes (the web app's model picker reads this list too), each with its
    capabilities (`tools`, `json_schema`, `vision`, `logprobs`) and context window; `auto` first.

    With an `anthropic-version` header (Anthropic's SDKs, which send the key in `x-api-key`): Anthropic's shape,
    paged by `limit`, `after_id` and `before_id` (which OpenAI's format ignores: it lists every model)."""
    created = request.app.state.router.registry.created
    if anthropic_models.is_anthropic_client(request.headers):
        infos = [
            anthropic_models.model_info(None, AUTO_MODEL, created),
            *(anthropic_models.model_info(c, c.name, created) for c in await _usable(request, principal, seeds)),
        ]
        return anthropic_models.model_page(infos, limit=limit, after_id=after_id, before_id=before_id)
    data = [
        _model_object(None, AUTO_MODEL, created),
        *(_model_object(config, config.name, created) for config in await _usable(request, principal, seeds)),
    ]
    return {"object": "list", "data": data}


@router.get(
    "/models/{model_id:path}", responses=_ERRORS, summary="One model this Parley offers (OpenAI or Anthropic format)"
)
async def get_model(model_id: str, request: Request, principal: AnthropicUser, seeds: SeededPlans) -> dict[str, Any]:
    """A model of the caller's plan, as in the list; another name is 404 `model_not_found` (`not_found_error`
    for Anthropic's clients)."""
    created = request.app.state.router.registry.created
    shape = anthropic_models.model_info if anthropic_models.is_anthropic_client(request.headers) else _model_object
    if model_id == AUTO_MODEL:
        return shape(None, AUTO_MODEL, created)
    for config in await _usable(request, principal, seeds):
        if config.name == model_id:
            return shape(config, model_id, created)
    raise NotFound(f"The model '{model_id}' does not exist or you do not have access to it.", param="model")


_CHAT_COMPLETIONS_DESCRIPTION = """OpenAI's Chat Completions: the official SDKs work unchanged with a Parley API key.

**Parley extensions: answers from your documents.** `knowledge_base_ids` and `file_ids` (lists of ids, at most 10
and 20; with the SDKs, `extra_body={"knowledge_base_ids": [...]}`) ground the answer in those documents as the web
chat does: the last user message is searched for among them (hybrid search, only what the caller may read), and
the best excerpts reach the model as numbered sources fenced as data, right after the system messages, under the
model's PII policy. Each id must be a file or knowledge base the caller may read: another one, or one that does not
exist, is a 404 naming it (`param: "knowledge_base_ids.0"`), never ignored.

The answer carries its citations beside OpenAI's fields, which SDKs keep as extra fields:
- non-streaming: `choices[0].message.citations`;
- streaming: a chunk whose `choices[0].delta` holds only `citations`, right before the chunk with the
  `finish_reason`.

Each citation is the web chat's: `{n, file_id, filename, page, sheet, snippet, cited}`; `n` is the number the
answer refers to as `[n]`, `cited` says whether it does (every source given to the model is listed; an empty list
when nothing matched). A request naming documents is never answered from the response cache."""


@router.post(
    "/chat/completions",
    responses={
        200: {"content": {"application/json": {}, "text/event-stream": {}}},
        **_ERRORS,
        404: {
            "description": "Unknown model, or a file or knowledge base the caller may not read (`file_ids`, "
            "`knowledge_base_ids`)",
            "content": {"application/json": {}},
        },
    },
    response_model=None,
    summary="Create a chat completion (OpenAI format; streams with stream=true)",
    description=_CHAT_COMPLETIONS_DESCRIPTION,
)
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    principal: OpenAIUser,
    seeds: SeededPlans,
    limiter: RateLimiterDep,
    ledger: QuotaLedgerDep,
    images: ImageLoaderDep,
) -> Response:
    chat_request = await to_chat_request(body, images)
    parts = Parts.of(request, ledger)
    async with admission(parts, principal, seeds, limiter) as gate:
        sources = await documents.readable_sources(
            request.app.state.chat_engine.grounder,
            parts.database,
            principal,
            file_ids=body.file_ids,
            knowledge_base_ids=body.knowledge_base_ids,
        )
        admitted = await gate.admit(body.model, chat_request, sources=sources)
    try:
        if body.stream:
            completion = CompletionStream(
                gate,
                admitted,
                include_usage=bool(body.stream_options and body.stream_options.include_usage),
                open_streams=request.app.state.open_streams,
                sources=sources,
            )
            return await event_stream_once_open(request, completion, CompletionStream.chunks, gate.limit_headers)
        whole = await unless_the_client_leaves(request, gate.complete(admitted, sources=sources))
    except ProviderError as exc:
        return upstream_failure_response(exc)
    if whole is None:
        return client_closed()
    return JSONResponse(whole, headers=gate.limit_headers)
