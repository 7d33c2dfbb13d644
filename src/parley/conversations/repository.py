"""Every SQL statement of the conversations domain. Each query is scoped to its owner: another user's
conversation is simply not found."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, LargeBinary, Select, delete, exists, func, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from parley.crypto import content as sealed
from parley.crypto import orm_content as _orm_content  # noqa: F401 (opens sealed columns where the ORM loads them)
from parley.models import Conversation, Message

_WORD = re.compile(r"\w+", re.UNICODE)


def readable_by(user_id: uuid.UUID) -> Select[Conversation]:
    return select(Conversation).where(Conversation.user_id == user_id)


def prefix_tsquery(text: str) -> str | None:
    """A to_tsquery expression matching every word of `text` as a prefix (search as you type), built only
    from word characters so user input cannot inject tsquery syntax."""
    words = [w.lower() for w in _WORD.findall(text)][:16]
    return " & ".join(f"{w}:*" for w in words) or None


def _matches(query: str, tokens: list[bytes] | None) -> ColumnElement[bool]:
    """Conversations whose title, or one of whose messages, holds every word of the search. Sealed rows are
    found by their blind-index tokens (`search_terms @> tokens`, README "Encryption at rest"), rows written
    before encryption by their tsvector until `parley keys seal-existing` seals them."""
    tsquery = func.to_tsquery("simple", query)
    in_messages: ColumnElement[bool] = Message.content_search.op("@@")(tsquery)
    in_title: ColumnElement[bool] = Conversation.title_search.op("@@")(tsquery)
    if tokens:
        wanted = literal(tokens, ARRAY(LargeBinary()))
        in_messages = or_(Message.search_terms.contains(wanted), in_messages)
        in_title = or_(Conversation.search_terms.contains(wanted), in_title)
    return or_(in_title, exists().where(Message.conversation_id == Conversation.id, in_messages))


async def add(session: AsyncSession, conversation: Conversation) -> Conversation:
    session.add(conversation)
    await session.flush()
    await session.refresh(conversation)
    return conversation


async def is_owned(session: AsyncSession, *, user_id: uuid.UUID, conversation_id: uuid.UUID) -> bool:
    """Whether the caller has this conversation, without loading it (nor opening its sealed title)."""
    found = await session.scalar(
        select(Conversation.id).where(Conversation.id == conversation_id, Conversation.user_id == user_id)
    )
    return found is not None


async def get(session: AsyncSession, *, user_id: uuid.UUID, conversation_id: uuid.UUID) -> Conversation | None:
    return await session.scalar(readable_by(user_id).where(Conversation.id == conversation_id))


async def list_slice(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    archived: bool | None,
    search: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    source: str | None = None,
) -> list[Conversation]:
    """Newest activity first, `limit` rows after the keyset position `after` (of one `source`, unless None)."""
    query = readable_by(user_id)
    if source is not None:
        query = query.where(Conversation.source == source)
    if archived is not None:
        query = query.where(Conversation.is_archived.is_(archived))
    if search:
        tsquery = prefix_tsquery(search)
        if tsquery is None:
            return []
        key = await sealed.key_for(user_id)
        tokens = sealed.query_terms(key, search) if key is not None else None
        query = query.where(_matches(tsquery, tokens))
    if after is not None:
        moment, row_id = after
        query = query.where(
            or_(
                Conversation.last_activity_at < moment,
                (Conversation.last_activity_at == moment) & (Conversation.id < row_id),
            )
        )
    rows = await session.scalars(
        query.order_by(Conversation.last_activity_at.desc(), Conversation.id.desc()).limit(limit)
    )
    return list(rows)


async def messages_of(session: AsyncSession, conversation_id: uuid.UUID) -> list[Message]:
    rows = await session.scalars(
        select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq)
    )
    return list(rows)


async def message_of(session: AsyncSession, *, user_id: uuid.UUID, message_id: uuid.UUID) -> Message | None:
    """A message of one of the user's conversations, locked for the change that follows."""
    return await session.scalar(
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.id == message_id, Conversation.user_id == user_id)
        .with_for_update(of=Message)
    )


async def question_before(session: AsyncSession, answer: Message) -> Message | None:
    """The user's message an answer answers: the last one before it in its conversation."""
    return await session.scalar(
        select(Message)
        .where(Message.conversation_id == answer.conversation_id, Message.role == "user", Message.seq < answer.seq)
        .order_by(Message.seq.desc())
        .limit(1)
    )


async def flush_message(session: AsyncSession, message: Message) -> Message:
    await session.flush()
    await session.refresh(message)
    return message


async def sealed_feedback_comment(*, owner: uuid.UUID, message_id: uuid.UUID, comment: str | None) -> str | None:
    """A feedback comment as stored: sealed with the owner's data key (opened again where the row loads)."""
    if not comment:
        return comment
    return await sealed.seal_text(owner, comment, context=sealed.context_of("messages", "feedback_comment", message_id))


async def flush(session: AsyncSession, conversation: Conversation) -> Conversation:
    await session.flush()
    await session.refresh(conversation)
    return conversation


async def remove(session: AsyncSession, *, user_id: uuid.UUID, conversation_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(Conversation)
        .where(Conversation.id == conversation_id, Conversation.user_id == user_id)
        .returning(Conversation.id)
    )
    return result.one_or_none() is not None


async def last_counted_answer(session: AsyncSession, conversation_id: uuid.UUID) -> Message | None:
    """The newest answer whose token counts are known (finished, stopped or cut; not one being written)."""
    return await session.scalar(
        select(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.role == "assistant",
            Message.prompt_tokens.is_not(None),
        )
        .order_by(Message.seq.desc())
        .limit(1)
    )


async def remove_all_of(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Delete every conversation of a user (their messages go by cascade); how many (account erasure)."""
    result = await session.execute(
        delete(Conversation).where(Conversation.user_id == user_id).returning(Conversation.id)
    )
    return len(result.all())


async def remove_untouched(session: AsyncSession, *, user_id: uuid.UUID, before: datetime, limit: int) -> int:
    """Delete at most `limit` of a user's conversations with no activity since `before` (retention); rows another
    transaction holds are left for the next batch. How many."""
    due = (
        select(Conversation.id)
        .where(Conversation.user_id == user_id, Conversation.last_activity_at < before)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(delete(Conversation).where(Conversation.id.in_(due)).returning(Conversation.id))
    return len(result.all())
