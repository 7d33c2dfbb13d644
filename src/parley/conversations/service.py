"""Conversations: a user's chats, listed newest activity first, searchable, archivable; and the user's feedback
on the answers in them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from parley.conversations import repository
from parley.errors import Conflict, NotFound, Unprocessable
from parley.kit.pagination import decode_cursor, encode_cursor
from parley.models import Conversation, Message
from parley.usage import service as usage_service

DEFAULT_TITLE = "New chat"


@dataclass(frozen=True)
class ConversationSlice:
    items: list[Conversation]
    next_cursor: str | None


async def create(session: AsyncSession, *, user_id: uuid.UUID, title: str | None = None) -> Conversation:
    return await repository.add(session, Conversation(id=uuid.uuid4(), user_id=user_id, title=title or DEFAULT_TITLE))


async def get(session: AsyncSession, *, user_id: uuid.UUID, conversation_id: uuid.UUID) -> Conversation:
    """The caller's conversation; someone else's is indistinguishable from a missing one."""
    conversation = await repository.get(session, user_id=user_id, conversation_id=conversation_id)
    if conversation is None:
        raise NotFound("conversation not found")
    return conversation


async def require_owned(session: AsyncSession, *, user_id: uuid.UUID, conversation_id: uuid.UUID) -> None:
    """`get`'s check alone (404 for someone else's), for callers that need the conversation's id only: its row
    is not loaded, so its sealed title is not opened (a key read on a replica that has not cached it)."""
    if not await repository.is_owned(session, user_id=user_id, conversation_id=conversation_id):
        raise NotFound("conversation not found")


async def get_with_messages(
    session: AsyncSession, *, user_id: uuid.UUID, conversation_id: uuid.UUID
) -> tuple[Conversation, list[Message]]:
    conversation = await get(session, user_id=user_id, conversation_id=conversation_id)
    return conversation, await repository.messages_of(session, conversation.id)


async def list_for(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    archived: bool | None = False,
    search: str | None = None,
    cursor: str | None = None,
    limit: int = 30,
    source: str | None = "chat",
) -> ConversationSlice:
    """A page of the user's conversations, newest activity first: by default the web chat's (`source`; None:
    all of them, stored `/v1/responses` too, as a data export lists them)."""
    after = decode_cursor(cursor) if cursor else None
    rows = await repository.list_slice(
        session, user_id=user_id, archived=archived, search=search, after=after, limit=limit + 1, source=source
    )
    items = rows[:limit]
    has_more = len(rows) > limit
    last = items[-1] if items else None
    return ConversationSlice(
        items=items,
        next_cursor=encode_cursor(last.last_activity_at, last.id) if has_more and last is not None else None,
    )


async def update(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    title: str | None = None,
    is_archived: bool | None = None,
) -> Conversation:
    conversation = await get(session, user_id=user_id, conversation_id=conversation_id)
    if title is not None:
        conversation.title = title
    if is_archived is not None:
        conversation.is_archived = is_archived
    return await repository.flush(session, conversation)


async def delete(session: AsyncSession, *, user_id: uuid.UUID, conversation_id: uuid.UUID) -> None:
    """Remove a conversation and, through the foreign key's cascade, its messages."""
    if not await repository.remove(session, user_id=user_id, conversation_id=conversation_id):
        raise NotFound("conversation not found")


async def delete_all_of(session: AsyncSession, *, user_id: uuid.UUID) -> int:
    """Remove every conversation of a user with their messages (account erasure); how many."""
    return await repository.remove_all_of(session, user_id)


async def delete_untouched(session: AsyncSession, *, user_id: uuid.UUID, before: datetime, limit: int) -> int:
    """Remove up to `limit` of a user's conversations untouched since `before` (retention); how many."""
    return await repository.remove_untouched(session, user_id=user_id, before=before, limit=limit)


_RATING_VALUES = {"up": 1, "down": -1}


async def _rateable_answer(session: AsyncSession, *, user_id: uuid.UUID, message_id: uuid.UUID) -> Message:
    message = await repository.message_of(session, user_id=user_id, message_id=message_id)
    if message is None:
        raise NotFound("message not found")
    if message.role != "assistant":
        raise Unprocessable("only answers can be rated")
    return message


async def set_feedback(
    session: AsyncSession, *, user_id: uuid.UUID, message_id: uuid.UUID, rating: str, comment: str | None
) -> Message:
    """Rate one of the user's answers thumbs up or down (replacing an earlier rating and comment). An answer still
    being written cannot be rated yet: what is rated is the finished text."""
    message = await _rateable_answer(session, user_id=user_id, message_id=message_id)
    if message.finish_reason is None:
        raise Conflict("this answer is still being generated; rate it when it is finished")
    message.feedback_rating = _RATING_VALUES[rating]
    message.feedback_comment = await repository.sealed_feedback_comment(
        owner=user_id, message_id=message.id, comment=comment
    )
    message.feedback_at = datetime.now(UTC)
    return await repository.flush_message(session, message)


async def clear_feedback(session: AsyncSession, *, user_id: uuid.UUID, message_id: uuid.UUID) -> None:
    """Withdraw the user's rating of an answer (nothing to withdraw is fine: the result is the same)."""
    message = await _rateable_answer(session, user_id=user_id, message_id=message_id)
    message.feedback_rating = None
    message.feedback_comment = None
    message.feedback_at = None
    await repository.flush_message(session, message)


async def finished_exchange(
    session: AsyncSession, *, user_id: uuid.UUID, message_id: uuid.UUID
) -> tuple[Message, Message | None]:
    """One of the user's finished answers and the question it answers (None if there is none), for a report of
    the answer: someone else's is a 404, a question a 422, an answer still being written a 409."""
    answer = await _rateable_answer(session, user_id=user_id, message_id=message_id)
    if answer.finish_reason is None:
        raise Conflict("this answer is still being generated; report it when it is finished")
    return answer, await repository.question_before(session, answer)


@dataclass(frozen=True)
class ContextUse:
    """How full a conversation's context window is and what the conversation has cost."""

    model: str
    # None: the model is no longer in the catalogue.
    context_window: int | None
    context_tokens: int
    cost_usd: Decimal


async def context_use(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    windows: Callable[[str], int | None],
    default_model: str,
) -> ContextUse:
    """The tokens the conversation puts in the model's context window, as the last answer counted them (its
    prompt, which holds the history fitted to the window, and its own text, which the next prompt carries), against
    the window of the model that answered last (`default_model` before any answer); and the conversation's cost
    from the usage records."""
    conversation = await get(session, user_id=user_id, conversation_id=conversation_id)
    last = await repository.last_counted_answer(session, conversation.id)
    model = (last.model if last is not None else None) or conversation.model or default_model
    tokens = (last.prompt_tokens or 0) + (last.completion_tokens or 0) if last is not None else 0
    return ContextUse(
        model=model,
        context_window=windows(model),
        context_tokens=tokens,
        cost_usd=await usage_service.conversation_cost(session, conversation.id),
    )
