"""`/v1/responses`: OpenAI's Responses API over Parley's models, with Parley API keys, plans, rate limits, quotas,
usage and fallbacks exactly as `/v1/chat/completions` (whose service does the work of a whole answer), and
stored responses kept in Parley's conversation storage (`service`)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, Response

from parley.db import SessionDep
from parley.images.dependencies import ImageLoaderDep
from parley.kit.client_hangup import client_closed, event_stream_once_open, unless_the_client_leaves
from parley.llm.base import ProviderError, Usage
from parley.openai_api.admission import Parts, admission
from parley.openai_api.auth import OpenAIUser
from parley.openai_api.errors import upstream_failure_response
from parley.plans.dependencies import SeededPlans
from parley.policy.rates import RateLimiterDep
from parley.quotas.dependencies import QuotaLedgerDep
from parley.responses_api import service
from parley.responses_api.objects import ResponseRecord, output_of, settings_of
from parley.responses_api.schemas import ResponseCreateRequest
from parley.responses_api.stream import ResponseStream
from parley.responses_api.translate import input_items, read_images, to_chat_request

router = APIRouter(prefix="/v1/responses", tags=["openai-compatible"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {"application/json": {}}}
    for status, description in (
        (400, "Invalid request, naming the parameter (OpenAI error shape), or a parameter Parley does not support"),
        (401, "Invalid API key (OpenAI error shape)"),
        (403, "The key lacks the `chat` scope, the account is suspended, or the plan does not include the model"),
        (404, "Unknown model, or a response that is not one of the caller's stored responses"),
        (429, "The plan's requests per minute or a quota are used up"),
        (502, "No configured model could answer (also when streaming: the status comes with the first token)"),
    )
}


@router.post(
    "",
    responses={200: {"content": {"application/json": {}, "text/event-stream": {}}}, **_ERRORS},
    response_model=None,
    summary="Create a response (OpenAI Responses format; streams with stream=true)",
)
async def create_response(
    body: ResponseCreateRequest,
    request: Request,
    principal: OpenAIUser,
    seeds: SeededPlans,
    limiter: RateLimiterDep,
    ledger: QuotaLedgerDep,
    images: ImageLoaderDep,
) -> Response:
    parts = Parts.of(request, ledger)
    items = input_items(body)
    chain = (
        await service.chain_of(parts.database, principal, body.previous_response_id, images)
        if body.previous_response_id
        else None
    )
    chat_request = to_chat_request(
        body, items, chain.history if chain is not None else (), await read_images(items, images)
    )
    async with admission(parts, principal, seeds, limiter) as gate:
        admitted = await gate.admit(body.model, chat_request)
    record = ResponseRecord(id=uuid.uuid4(), model=admitted.model.config.name, settings=settings_of(body), input=items)

    async def keep(finished: ResponseRecord) -> None:
        await service.store(parts.database, principal, finished, chain)

    try:
        if body.stream:
            answer = gate.routed_answer(admitted, open_streams=request.app.state.open_streams)
            stream = ResponseStream(answer, record, shield=admitted.shield, keep=keep if body.store else None)
            return await event_stream_once_open(request, stream, ResponseStream.events, gate.limit_headers)
        completion = await unless_the_client_leaves(request, gate.complete(admitted))
    except ProviderError as exc:
        return upstream_failure_response(exc)
    if completion is None:
        return client_closed()
    choice = completion["choices"][0]
    usage = completion["usage"]
    record.output = output_of(completion)
    record.finish(
        choice["finish_reason"],
        Usage(usage["prompt_tokens"], usage["completion_tokens"]),
        model=completion["model"],
    )
    record.limit = completion.get("limit")
    if body.store:
        await keep(record)
    return JSONResponse(record.body(), headers=gate.limit_headers)


@router.get("/{response_id}", responses=_ERRORS, summary="A stored response (OpenAI Responses format)")
async def get_response(response_id: str, session: SessionDep, principal: OpenAIUser) -> dict[str, Any]:
    """One of the caller's stored responses (`store: true`); another user's, or a deleted one, is 404."""
    return await service.get(session, principal, response_id)


@router.delete("/{response_id}", responses=_ERRORS, summary="Delete a stored response")
async def delete_response(response_id: str, session: SessionDep, principal: OpenAIUser) -> dict[str, Any]:
    """Removes it from Parley's storage; the responses that continued it lose its turn from their context, and
    keep the rest."""
    return await service.delete(session, principal, response_id)


@router.get("/{response_id}/input_items", responses=_ERRORS, summary="The input items of a stored response")
async def list_input_items(
    response_id: str,
    session: SessionDep,
    principal: OpenAIUser,
    order: Literal["asc", "desc"] = Query(default="desc"),
) -> dict[str, Any]:
    """The items the response was given (not those of the responses it continued), in one page."""
    items = await service.input_items(session, principal, response_id, order=order)
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": False,
    }
