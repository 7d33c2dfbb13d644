from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from parley.chat.auth import Chatter
from parley.kit.sse import EventStreamResponse
from parley.llm.config import AUTO_MODEL
from parley.llm.router import AllModelsFailed, Router
from parley.openai_api import service
from parley.openai_api.errors import openai_error_body
from parley.openai_api.schemas import ChatCompletionRequest

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {"application/json": {}}}
    for status, description in (
        (401, "Invalid API key (OpenAI error shape)"),
        (403, "The key lacks the `chat` scope, or the account is suspended"),
        (404, "Unknown model"),
        (422, "Invalid request (OpenAI error shape)"),
        (502, "No configured model could answer"),
    )
}


@router.get("/models", responses=_ERRORS, summary="The models this Parley offers (OpenAI format)")
async def list_models(request: Request, principal: Chatter) -> dict[str, Any]:
    llm_router: Router = request.app.state.router
    data = [
        {"id": AUTO_MODEL, "object": "model", "created": 0, "owned_by": "parley"},
        *(
            {"id": m.config.name, "object": "model", "created": 0, "owned_by": m.config.provider}
            for m in llm_router.registry
        ),
    ]
    return {"object": "list", "data": data}


@router.post(
    "/chat/completions",
    responses={200: {"content": {"application/json": {}, "text/event-stream": {}}}, **_ERRORS},
    response_model=None,
    summary="Create a chat completion (OpenAI format; streams with stream=true)",
)
async def chat_completions(body: ChatCompletionRequest, request: Request, principal: Chatter) -> Response:
    llm_router: Router = request.app.state.router
    chat_request = service.to_chat_request(body)
    model = llm_router.resolve(body.model, chat_request.messages)
    database = request.app.state.database
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return EventStreamResponse(
            service.stream(llm_router, database, principal, model, chat_request, include_usage=include_usage)
        )
    try:
        completion = await service.complete(llm_router, database, principal, model, chat_request)
    except AllModelsFailed as exc:
        return JSONResponse(openai_error_body(502, str(exc)), status_code=502)
    return JSONResponse(completion)
