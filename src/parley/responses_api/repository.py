"""Every SQL statement of stored responses. A stored response is one message of a conversation whose `source` is
`responses`: its record (input items, output items, settings) is the message's text, sealed with the owner's data
key like any chat message (README, "Encryption at rest"); a chain of responses (`previous_response_id`) shares its
first response's conversation. Each query is scoped to the owner: another user's response is simply not found."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.conversations import repository as conversations_repository
from parley.crypto import content as sealed
from parley.crypto import orm_content as _orm_content  # noqa: F401 (opens sealed columns where the ORM loads them)
from parley.models import Conversation, Message

SOURCE = "responses"
_MESSAGES = cast(Table, Message.__table__)


async def new_conversation(session: AsyncSession, *, user_id: uuid.UUID, model: str) -> uuid.UUID:
    conversation = Conversation(id=uuid.uuid4(), user_id=user_id, model=model, source=SOURCE)
    return (await conversations_repository.add(session, conversation)).id


async def insert_record(
    session: AsyncSession,
    *,
    record_id: uuid.UUID,
    conversation_id: uuid.UUID,
    owner: uuid.UUID,
    text: str,
    model: str,
    status: str,
    ancestors: tuple[uuid.UUID, ...],
    prompt_tokens: int,
    completion_tokens: int,
) -> None:
    """Save a response's record (its JSON text, sealed for its row) and mark its conversation active. Not in the
    blind index: stored responses are no part of the web chat's search."""
    key = await sealed.key_for(owner)
    stored = sealed.seal_with(key, text, context=sealed.message_context(record_id)) if key is not None else text
    await session.execute(
        insert(_MESSAGES).values(
            id=record_id,
            conversation_id=conversation_id,
            role="assistant",
            content=stored,
            model=model,
            finish_reason=status,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            # The responses it continues, oldest first: its context, even once one of them is deleted.
            metadata={"response": {"ancestors": [str(ancestor) for ancestor in ancestors]}},
        )
    )
    await session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(last_activity_at=func.now())
    )


async def record_of(session: AsyncSession, *, user_id: uuid.UUID, record_id: uuid.UUID) -> Message | None:
    """A stored response of the user's (opened where the ORM loads it)."""
    return await session.scalar(
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.id == record_id, Conversation.user_id == user_id, Conversation.source == SOURCE)
    )


async def records(session: AsyncSession, conversation_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> list[Message]:
    """Those of `ids` still stored in a chain's conversation."""
    rows = await session.scalars(
        select(Message).where(Message.conversation_id == conversation_id, Message.id.in_(list(ids)))
    )
    return list(rows)


async def remove_record(session: AsyncSession, record: Message) -> None:
    """Delete a stored response, and its conversation when it held no other."""
    await session.execute(delete(Message).where(Message.id == record.id))
    left = await session.scalar(select(func.count()).where(Message.conversation_id == record.conversation_id))
    if not left:
        await session.execute(delete(Conversation).where(Conversation.id == record.conversation_id))
