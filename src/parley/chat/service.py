"""Chat: a user's message in, an answer streamed out; regenerate, edit, stop, resume, message history."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from parley.auth.principal import Principal
from parley.chat import repository
from parley.chat.engine import ChatEngine, Generation
from parley.chat.runs import Run, RunFeed
from parley.conversations import service as conversation_service
from parley.db import after_commit
from parley.errors import Conflict, NotFound
from parley.kit.pagination import decode_position, encode_position
from parley.llm.base import ChatMessage, GenerationParams
from parley.llm.registry import RegisteredModel
from parley.models import Message

# How long a stop waits for the answer to be finalised before reporting what is saved.
_STOP_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class Started:
    generation: Generation

    @property
    def run(self) -> Run:
        return self.generation.run


async def send(
    session: AsyncSession,
    engine: ChatEngine,
    principal: Principal,
    *,
    conversation_id: uuid.UUID | None,
    message: str,
    model: str | None,
    system_prompt: str | None,
    params: GenerationParams,
) -> Started:
    """Save the user's message (committed before any model is called) and start the answer."""
    if conversation_id is None:
        conversation = await conversation_service.create(session, user_id=principal.user_id)
        has_history = False
    else:
        conversation = await conversation_service.get(
            session, user_id=principal.user_id, conversation_id=conversation_id
        )
        # Only whether there is history matters here; the engine loads it once, after the commit.
        has_history = await repository.has_messages(session, conversation.id)
    registered = engine.router.resolve(model or conversation.model, [ChatMessage("user", message)])
    if system_prompt is not None:
        conversation.system_prompt = system_prompt
    conversation.model = registered.config.name
    user_message = repository.add_message(session, conversation_id=conversation.id, role="user", content=message)
    return _start(
        session,
        engine,
        principal,
        conversation_id=conversation.id,
        user_message_id=user_message.id,
        registered_model=registered,
        params=params,
        system_prompt=system_prompt,
        first_exchange=not has_history,
    )


async def regenerate(
    session: AsyncSession,
    engine: ChatEngine,
    principal: Principal,
    *,
    conversation_id: uuid.UUID,
    edited_message: str | None,
    model: str | None,
    params: GenerationParams,
) -> Started:
    """Answer the last user message again (replacing it first when edited); the old answer is removed."""
    conversation = await conversation_service.get(session, user_id=principal.user_id, conversation_id=conversation_id)
    current = engine.runs.get(conversation.id)
    if current is not None and not current.finished and not current.answered:
        raise Conflict("a reply is still being generated in this conversation; stop it first")
    history = await repository.history(session, conversation.id)
    last_user_index = next((i for i in range(len(history) - 1, -1, -1) if history[i].role == "user"), None)
    if last_user_index is None:
        raise Conflict("there is no message to answer in this conversation yet")
    last_user = history[last_user_index]
    await repository.delete_messages(session, [m.id for m in history[last_user_index + 1 :]])
    if edited_message is not None:
        last_user.content = edited_message
    registered = engine.router.resolve(model or conversation.model, [ChatMessage("user", last_user.content)])
    conversation.model = registered.config.name
    return _start(
        session,
        engine,
        principal,
        conversation_id=conversation.id,
        user_message_id=last_user.id,
        registered_model=registered,
        params=params,
        system_prompt=None,
        first_exchange=last_user_index == 0,
    )


def _start(
    session: AsyncSession,
    engine: ChatEngine,
    principal: Principal,
    *,
    conversation_id: uuid.UUID,
    user_message_id: uuid.UUID,
    registered_model: RegisteredModel,
    params: GenerationParams,
    system_prompt: str | None,
    first_exchange: bool,
) -> Started:
    answer = repository.add_message(
        session, conversation_id=conversation_id, role="assistant", content="", model=registered_model.config.name
    )
    run = Run(conversation_id=conversation_id, message_id=answer.id, user_id=principal.user_id)
    engine.runs.reserve(run)
    generation = Generation(
        run=run,
        model=registered_model,
        user_id=principal.user_id,
        conversation_id=conversation_id,
        message_id=answer.id,
        user_message_id=user_message_id,
        params=params,
        api_key_id=principal.api_key_id,
        system_prompt=system_prompt,
        first_exchange=first_exchange,
    )
    # The answer starts only once the user's message is committed; if the commit fails, nothing runs.
    after_commit(session, lambda: engine.launch(generation), on_rollback=lambda: engine.runs.release(run))
    return Started(generation)


async def stop(
    session: AsyncSession, engine: ChatEngine, principal: Principal, *, conversation_id: uuid.UUID
) -> Message | None:
    """Stop the answer being generated, here or on another replica; its text so far is kept (finish_reason
    `cancelled`)."""
    conversation = await conversation_service.get(session, user_id=principal.user_id, conversation_id=conversation_id)
    run = engine.runs.get(conversation.id)
    if run is not None and run.cancel("stopped"):
        async with asyncio.timeout(_STOP_WAIT_SECONDS):
            await run.done.wait()
    elif run is None or run.finished:
        await engine.relay.request_stop(conversation.id, wait_seconds=_STOP_WAIT_SECONDS)
    history = await repository.history(session, conversation.id)
    answers = [m for m in history if m.role == "assistant"]
    if not answers:
        return None
    await session.refresh(answers[-1])
    return answers[-1]


async def live_run(
    session: AsyncSession, engine: ChatEngine, principal: Principal, *, conversation_id: uuid.UUID
) -> RunFeed:
    """The generation of a conversation to (re)attach to: running, or finished moments ago; here, or on another
    replica (whose latest run supersedes one that finished here)."""
    conversation = await conversation_service.get(session, user_id=principal.user_id, conversation_id=conversation_id)
    run = engine.runs.get(conversation.id)
    if run is not None and not run.finished:
        return run
    feed = await engine.relay.find(conversation.id) or run
    if feed is None:
        raise NotFound("nothing is being generated in this conversation")
    return feed


async def messages_page(
    session: AsyncSession, principal: Principal, *, conversation_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Message], str | None]:
    """Messages newest first, `limit` at a time; `next_cursor` pages further back."""
    conversation = await conversation_service.get(session, user_id=principal.user_id, conversation_id=conversation_id)
    before = decode_position(cursor) if cursor else None
    rows = await repository.page(session, conversation_id=conversation.id, before_seq=before, limit=limit + 1)
    items = rows[:limit]
    more = len(rows) > limit
    return items, encode_position(items[-1].seq) if more and items else None


async def delete_message(
    session: AsyncSession, engine: ChatEngine, principal: Principal, *, message_id: uuid.UUID
) -> None:
    message = await repository.get_owned(session, user_id=principal.user_id, message_id=message_id)
    if message is None:
        raise NotFound("message not found")
    run = engine.runs.get(message.conversation_id)
    if run is not None and not run.answered and not run.finished and run.message_id == message.id:
        raise Conflict("this answer is still being generated; stop it first")
    await repository.delete_messages(session, [message.id])
