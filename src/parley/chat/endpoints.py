from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status
from starlette.responses import JSONResponse

from parley.chat import service
from parley.chat.auth import ChatReader, Chatter, EngineDep
from parley.chat.engine import ChatEngine
from parley.chat.grounding import Attachments
from parley.chat.schemas import (
    ChatCreate,
    ChatResult,
    GenerationOptions,
    MessagePage,
    Regenerate,
    SourceOptions,
    StopResult,
)
from parley.conversations.schemas import Message
from parley.db import SessionDep
from parley.errors import problem_responses
from parley.kit.sse import EventStreamResponse
from parley.llm.base import GenerationParams
from parley.plans import service as plans_service
from parley.plans.dependencies import SeededPlans
from parley.policy.rates import RateLimiterDep
from parley.quotas import service as quotas_service
from parley.read_session import ReadSessionDep
from parley.safety.markdown import neutralise_markdown

router = APIRouter(prefix="/api/v1/chat", tags=["chat"])

_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`text/event-stream` when `stream` is true (events: message, delta, fallback, done, error, "
        "title; each with an `id:`), else the whole answer as JSON",
        "content": {"text/event-stream": {}, "application/json": {}},
    }
}


def _params(body: GenerationOptions) -> GenerationParams:
    return GenerationParams(temperature=body.temperature, max_tokens=body.max_tokens)


async def _respond(
    engine: ChatEngine, started: service.Started, *, stream: bool, headers: dict[str, str] | None = None
) -> Response:
    grace = engine.settings.disconnect_grace_seconds
    if stream:
        streamed = EventStreamResponse(started.run.listen(after=0, grace_seconds=grace))
        streamed.headers.update(headers or {})
        return streamed
    # Not streaming: wait for the whole answer (as a listener, so a vanished client still cancels it).
    async for _ in started.run.listen(after=0, grace_seconds=grace):
        pass
    result = ChatResult.model_validate(started.generation.result).model_dump(mode="json")
    if result.get("content"):  # as saved (safety.markdown): no image from a host not allowed, no scripted link
        result["content"] = neutralise_markdown(result["content"], image_hosts=engine.image_hosts)
    return JSONResponse(result, headers=headers)


@router.post(
    "",
    responses={**_STREAM_DOC, **problem_responses(401, 403, 404, 409, 422, 429)},
    response_model=None,
    summary="Send a message and receive the answer (streamed by default)",
)
async def chat(
    body: ChatCreate,
    principal: Chatter,
    session: SessionDep,
    engine: EngineDep,
    seeds: SeededPlans,
    limiter: RateLimiterDep,
) -> Response:
    plan = await plans_service.plan_for_user(session, principal.user, seeds=seeds)
    async with quotas_service.refusals_counted(engine.database, principal.user_id):
        limit_headers = await plans_service.admit_request(limiter, principal, plan)
        started = await service.send(
            session,
            engine,
            principal,
            conversation_id=body.conversation_id,
            message=body.message,
            model=body.model,
            system_prompt=body.system_prompt,
            params=_params(body),
            plan=plan,
            attachments=_attachments(body),
        )
    return await _respond_after_commit(engine, started, stream=body.stream, headers=limit_headers)


def _attachments(body: SourceOptions) -> Attachments:
    return Attachments(
        file_ids=tuple(dict.fromkeys(body.file_ids)), knowledge_base_ids=tuple(dict.fromkeys(body.knowledge_base_ids))
    )


async def _respond_after_commit(
    engine: ChatEngine, started: service.Started, *, stream: bool, headers: dict[str, str]
) -> Response:
    """The answer's response, with `headers` (the plan's RateLimit headers)."""
    if stream:
        return await _respond(engine, started, stream=True, headers=headers)
    # The non-streaming wait must happen after the commit (which starts the run): hand it to the response.
    return _DeferredResult(engine, started, headers)


class _DeferredResult(Response):
    """Waits for the whole answer while being sent, i.e. after the request's unit of work has committed."""

    media_type = "application/json"

    def __init__(self, engine: ChatEngine, started: service.Started, headers: dict[str, str]) -> None:
        super().__init__(status_code=200)
        self._engine = engine
        self._started = started
        self._limit_headers = headers

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        response = await _respond(self._engine, self._started, stream=False, headers=self._limit_headers)
        await response(scope, receive, send)


@router.post(
    "/{conversation_id}/stop",
    response_model=StopResult,
    responses=problem_responses(401, 403, 404, 422),
    summary="Stop the answer being generated; the text so far is kept",
)
async def stop(conversation_id: uuid.UUID, principal: Chatter, session: SessionDep, engine: EngineDep) -> StopResult:
    message = await service.stop(session, engine, principal, conversation_id=conversation_id)
    if message is None:
        return StopResult(message_id=None, finish_reason=None, content=None)
    return StopResult(message_id=message.id, finish_reason=message.finish_reason, content=message.content)


@router.get(
    "/{conversation_id}/stream",
    response_model=None,
    responses={
        200: {"description": "`text/event-stream`", "content": {"text/event-stream": {}}},
        **problem_responses(401, 403, 404, 422),
    },
    summary="Reattach to an answer: replays the events after Last-Event-ID, then continues live",
)
async def resume(
    conversation_id: uuid.UUID,
    principal: ChatReader,
    session: SessionDep,
    engine: EngineDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
    after: Annotated[int | None, Query(ge=0, description="alternative to the Last-Event-ID header")] = None,
) -> Response:
    run = await service.live_run(session, engine, principal, conversation_id=conversation_id)
    position = after if after is not None else _event_number(last_event_id)
    return EventStreamResponse(run.listen(after=position, grace_seconds=engine.settings.disconnect_grace_seconds))


def _event_number(last_event_id: str | None) -> int:
    if not last_event_id:
        return 0
    try:
        return max(0, int(last_event_id.strip()))
    except ValueError:
        return 0


@router.post(
    "/{conversation_id}/regenerate",
    responses={**_STREAM_DOC, **problem_responses(401, 403, 404, 409, 422, 429)},
    response_model=None,
    summary="Answer the last message again (optionally after editing it)",
)
async def regenerate(
    conversation_id: uuid.UUID,
    body: Regenerate,
    principal: Chatter,
    session: SessionDep,
    engine: EngineDep,
    seeds: SeededPlans,
    limiter: RateLimiterDep,
) -> Response:
    plan = await plans_service.plan_for_user(session, principal.user, seeds=seeds)
    async with quotas_service.refusals_counted(engine.database, principal.user_id):
        limit_headers = await plans_service.admit_request(limiter, principal, plan)
        started = await service.regenerate(
            session,
            engine,
            principal,
            conversation_id=conversation_id,
            edited_message=body.message,
            model=body.model,
            params=_params(body),
            plan=plan,
            # Named (even as empty lists) they replace the message's documents; left out, it keeps them.
            attachments=_attachments(body) if body.model_fields_set & {"file_ids", "knowledge_base_ids"} else None,
        )
    return await _respond_after_commit(engine, started, stream=body.stream, headers=limit_headers)


@router.get(
    "/{conversation_id}/messages",
    response_model=MessagePage,
    responses=problem_responses(401, 403, 404, 422),
    summary="A conversation's messages, newest first",
)
async def messages(
    conversation_id: uuid.UUID,
    principal: ChatReader,
    session: ReadSessionDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MessagePage:
    items, next_cursor = await service.messages_page(
        session, principal, conversation_id=conversation_id, cursor=cursor, limit=limit
    )
    return MessagePage(items=[Message.model_validate(m) for m in items], next_cursor=next_cursor)


@router.delete(
    "/messages/{message_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Delete a message",
)
async def delete_message(message_id: uuid.UUID, principal: Chatter, session: SessionDep, engine: EngineDep) -> Response:
    await service.delete_message(session, engine, principal, message_id=message_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
