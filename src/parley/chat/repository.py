"""Every SQL statement of the chat domain: messages of a conversation, answers being written."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    Table,
    Text,
    Uuid,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from parley.crypto import content as sealed
from parley.crypto import orm_content as _orm_content  # noqa: F401 (opens sealed columns where the ORM loads them)
from parley.models import Conversation, ConversationKnowledgeBase, File, Message

_MESSAGES = cast(Table, Message.__table__)
# An answer's metadata without its writer token (`chat.handover`), which it needs only while being written.
_WITHOUT_WRITER = Message.extra.op("-")(literal("writer", Text()))


def new_message(
    *,
    conversation_id: uuid.UUID,
    role: str,
    content: str,
    model: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Message:
    """A message not saved yet and outside the session: `insert_messages` saves it as it is then."""
    return Message(
        id=uuid.uuid4(),
        conversation_id=conversation_id,
        role=role,
        content=content,
        model=model,
        finish_reason=None,
        extra=extra if extra is not None else {},
    )


async def insert_messages(session: AsyncSession, messages: Sequence[Message], *, owner: uuid.UUID) -> None:
    """Save new messages (`new_message`) in one statement, now, in this order (their `seq`): plain rows, not the
    ORM's unit of work, whose flush of two rows and read-back of their defaults cost more than the insert. The
    objects stay outside the session, so nothing changed on them later is saved. Their text is sealed with
    `owner`'s data key (README, "Encryption at rest"), with blind-index tokens of its words."""
    key = await sealed.key_for(owner)
    await session.execute(
        insert(_MESSAGES).values(
            [
                {
                    "id": message.id,
                    "conversation_id": message.conversation_id,
                    "role": message.role,
                    "content": _seal(key, message.content, message.id),
                    "search_terms": sealed.terms(key, [message.content]),
                    "model": message.model,
                    "metadata": message.extra,
                }
                for message in messages
            ]
        )
    )


def _seal(key: sealed.SealingKey | None, text: str, message_id: uuid.UUID) -> str:
    """A message's text as stored: sealed for its row (unless this process seals nothing, or it is empty)."""
    if key is None or not text:
        return text
    return sealed.seal_with(key, text, context=sealed.message_context(message_id))


def _sealed_citations(
    key: sealed.SealingKey | None, citations: list[dict[str, Any]] | None, message_id: uuid.UUID
) -> list[dict[str, Any]] | None:
    """An answer's sources as stored: each excerpt (`snippet`, the document's words) and its file's name sealed for
    their place."""
    if key is None or not citations:
        return citations
    return [
        {
            **item,
            **{
                field: sealed.seal_with(key, item[field], context=sealed.citation_context(message_id, n, field))
                for field in sealed.SEALED_CITATION_FIELDS
                if isinstance(item.get(field), str) and item[field]
            },
        }
        for n, item in enumerate(citations)
    ]


async def history(session: AsyncSession, conversation_id: uuid.UUID) -> list[Message]:
    """Every message of the conversation, oldest first."""
    rows = await session.scalars(
        select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq)
    )
    return list(rows)


async def page(
    session: AsyncSession, *, conversation_id: uuid.UUID, before_seq: int | None, limit: int
) -> list[Message]:
    """Up to `limit` messages older than position `before_seq`, newest first."""
    query = select(Message).where(Message.conversation_id == conversation_id)
    if before_seq is not None:
        query = query.where(Message.seq < before_seq)
    rows = await session.scalars(query.order_by(Message.seq.desc()).limit(limit))
    return list(rows)


async def get_owned(session: AsyncSession, *, user_id: uuid.UUID, message_id: uuid.UUID) -> Message | None:
    return await session.scalar(
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.id == message_id, Conversation.user_id == user_id)
    )


async def delete_messages(session: AsyncSession, message_ids: list[uuid.UUID]) -> None:
    if message_ids:
        await session.execute(delete(Message).where(Message.id.in_(message_ids)))


# Only the answer's current writer (`metadata.writer`, `chat.handover`) may checkpoint it; the rows it may not
# are returned, so a writer whose answer another replica took over stops.
_SAVE_PROGRESS = text(
    "WITH progress AS (SELECT * FROM unnest(:ids, :contents, :writers) AS p(id, content, writer)), "
    "saved AS ("
    "  UPDATE messages SET content = progress.content, search_terms = NULL, updated_at = now() FROM progress "
    "  WHERE messages.id = progress.id AND messages.finish_reason IS NULL "
    "    AND messages.metadata->>'writer' = progress.writer "
    "  RETURNING messages.id"
    ") "
    "SELECT progress.id FROM progress JOIN messages ON messages.id = progress.id "
    "WHERE progress.id NOT IN (SELECT id FROM saved) AND messages.finish_reason IS NULL"
).bindparams(
    bindparam("ids", type_=ARRAY(Uuid())),
    bindparam("contents", type_=ARRAY(Text())),
    bindparam("writers", type_=ARRAY(Text())),
)


async def save_progress(
    session: AsyncSession, progress: Sequence[tuple[uuid.UUID, str, str, uuid.UUID]]
) -> list[uuid.UUID]:
    """Checkpoint answers being written, (message id, text so far, writer token, owner) each, all in one statement
    (also a heartbeat: `updated_at` shows their generations are alive). Returns the answers this writer may no
    longer write: unfinished, and another replica's now. A finished answer is not among them: this replica may
    have just saved it itself (a checkpoint that began before the save ends after it), and one another replica
    finished is refused at this writer's own final save (`finish_answer`). A deleted answer is neither."""
    if not progress:
        return []
    keys = {owner: await sealed.key_for(owner) for owner in {item[3] for item in progress}}
    rows = await session.scalars(
        _SAVE_PROGRESS,
        {
            "ids": [item[0] for item in progress],
            "contents": [_seal(keys[item[3]], item[1], item[0]) for item in progress],
            "writers": [item[2] for item in progress],
        },
    )
    return list(rows)


async def finish_answer(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    writer: str,
    owner: uuid.UUID,
    conversation_id: uuid.UUID,
    content: str,
    finish_reason: str,
    model: str,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    extra: dict[str, Any],
    citations: list[dict[str, Any]] | None = None,
    summary: tuple[str | None, uuid.UUID | None] | None = None,
) -> bool:
    """Write the answer's final state and mark its conversation active (with its new `summary` of old turns, if
    any), in one statement; only while `writer` is still the answer's writer token (dropped with it: a finished
    answer takes no more writes). The row stays locked until the transaction ends, so no other replica can claim
    it meanwhile (claims skip locked rows). False when it is not this writer's any more (another replica took it
    over, or it was finished or marked interrupted meanwhile): the caller's transaction must not go on to bill
    anything of it. The text and the summary are sealed with `owner`'s data key."""
    key = await sealed.key_for(owner)
    finished = (
        update(Message)
        .where(Message.id == message_id, Message.finish_reason.is_(None), Message.extra["writer"].astext == writer)
        .values(
            citations=_sealed_citations(key, citations, message_id),
            content=_seal(key, content, message_id),
            search_terms=sealed.terms(key, [content]),
            finish_reason=finish_reason,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            extra=extra,
            updated_at=func.now(),
        )
        .returning(Message.conversation_id)
        .cte("finished")
    )
    values: dict[str, Any] = {"last_activity_at": func.now(), "updated_at": func.now()}
    if summary is not None:
        text_of_summary = summary[0]
        if key is not None and text_of_summary:
            context = sealed.conversation_context("summary", conversation_id)
            text_of_summary = sealed.seal_with(key, text_of_summary, context=context)
        values |= {"summary": text_of_summary, "summary_through_message_id": summary[1]}
    touched = await session.execute(
        update(Conversation)
        .where(Conversation.id == finished.c.conversation_id, Conversation.id == conversation_id)
        .values(values)
        .returning(Conversation.id)
        # Nothing of these rows is in the session to keep in step, and evaluating the CTE there would fail.
        .execution_options(synchronize_session=False)
    )
    return touched.one_or_none() is not None


async def mark_interrupted(session: AsyncSession, *, stale_after: timedelta, keep: set[uuid.UUID]) -> int:
    """Answers nobody is writing any more (their generation died with its server) become `interrupted`,
    keeping what was checkpointed."""
    query = (
        update(Message)
        .where(
            Message.role == "assistant",
            Message.finish_reason.is_(None),
            Message.updated_at < func.now() - stale_after,
        )
        .values(finish_reason="interrupted", extra=_WITHOUT_WRITER)
        .returning(Message.id)
    )
    if keep:
        query = query.where(Message.id.not_in(keep))
    result = await session.execute(query)
    return len(result.all())


async def conversations_answering(
    session: AsyncSession, *, user_id: uuid.UUID, live_within: timedelta
) -> list[uuid.UUID]:
    """The user's conversations with an answer being written now, by whichever replica: unfinished, and
    checkpointed within `live_within` (a live answer's row is refreshed every checkpoint interval)."""
    rows = await session.scalars(
        select(Message.conversation_id)
        .distinct()
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Conversation.user_id == user_id,
            Message.role == "assistant",
            Message.finish_reason.is_(None),
            Message.updated_at > func.now() - live_within,
        )
    )
    return list(rows)


async def conversation_state(session: AsyncSession, conversation_id: uuid.UUID) -> Conversation:
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise LookupError(f"conversation {conversation_id} vanished during generation")
    return conversation


async def message_content(session: AsyncSession, message_id: uuid.UUID) -> str | None:
    stored = await session.scalar(select(Message.content).where(Message.id == message_id))
    return await sealed.open_text(stored, context=sealed.message_context(message_id)) if stored is not None else None


async def set_default_title(
    session: AsyncSession, conversation_id: uuid.UUID, title: str, *, default: str, owner: uuid.UUID
) -> bool:
    """Title a conversation that still has the default title (a user's own rename always wins), sealed with
    `owner`'s data key (the column then holds no words, `title_sealed` the title)."""
    key = await sealed.key_for(owner)
    values: dict[str, Any] = {"title": title}
    if key is not None and title != default:
        values["search_terms"] = sealed.terms(key, [title])
        if sealed.sealing():
            context = sealed.conversation_context("title", conversation_id)
            values |= {"title": "", "title_sealed": key.seal(title.encode(), context=context)}
    result = await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id, Conversation.title == default, Conversation.title_sealed.is_(None))
        .values(values)
        .returning(Conversation.id)
    )
    return result.one_or_none() is not None


@dataclass(frozen=True, slots=True)
class Turn:
    """A message of the history as a new answer needs it."""

    id: uuid.UUID
    role: str
    content: str
    # The documents a question named (its `metadata.attachments`); None for answers and questions without any.
    attachments: Any = None


@dataclass(frozen=True, slots=True)
class ForAnswer:
    conversation: Conversation
    history: list[Turn]
    has_documents: bool
    # An unfinished answer in it was checkpointed within `live_within`: some replica is writing it now.
    being_written: bool


# The history as one JSON array in the conversation's row ([id, role, content, attachments] oldest first): rows of
# plain values instead of ORM objects, which cost more to build than the query itself for a long conversation.
_HISTORY = (
    select(
        func.json_agg(
            aggregate_order_by(
                func.json_build_array(Message.id, Message.role, Message.content, Message.extra["attachments"]),
                Message.seq,
            )
        )
    )
    .where(Message.conversation_id == Conversation.id)
    .scalar_subquery()
)
_HAS_DOCUMENTS = exists().where(File.conversation_id == Conversation.id) | exists().where(
    ConversationKnowledgeBase.conversation_id == Conversation.id
)


async def conversation_for_answer(
    session: AsyncSession, *, user_id: uuid.UUID, conversation_id: uuid.UUID, live_within: timedelta
) -> ForAnswer | None:
    """What a new answer needs, in one round trip: the caller's conversation, its row locked until the
    transaction ends (requests starting answers take turns, on every replica), its whole history oldest first,
    whether answers in it draw on documents and whether an answer is being written in it. None when the caller
    has no such conversation."""
    being_written = exists().where(
        Message.conversation_id == Conversation.id,
        Message.role == "assistant",
        Message.finish_reason.is_(None),
        Message.updated_at >= func.now() - live_within,
    )
    row = (
        await session.execute(
            select(Conversation, _HISTORY, _HAS_DOCUMENTS, being_written)
            .where(Conversation.id == conversation_id, Conversation.user_id == user_id)
            .with_for_update(of=Conversation)
        )
    ).one_or_none()
    if row is None:
        return None
    conversation, history, has_documents, written = row
    turns = []
    for item in history or ():
        message_id = uuid.UUID(item[0])
        text_of_turn = item[2]
        if sealed.is_sealed(text_of_turn):
            text_of_turn = await sealed.open_text(text_of_turn, context=sealed.message_context(message_id))
        turns.append(Turn(message_id, item[1], text_of_turn, item[3]))
    return ForAnswer(conversation, turns, bool(has_documents), bool(written))


async def restate_question(
    session: AsyncSession, message_id: uuid.UUID, *, owner: uuid.UUID, content: str | None, attachments: Any = None
) -> None:
    """Change a question before it is answered again: its text (`content`, unless None; sealed with `owner`'s
    data key) and the documents it names (`attachments`, unless None)."""
    values: dict[str, Any] = {}
    if content is not None:
        key = await sealed.key_for(owner)
        values["content"] = _seal(key, content, message_id)
        values["search_terms"] = sealed.terms(key, [content])
    if attachments is not None:
        values["extra"] = Message.extra.op("||")(literal({"attachments": attachments}, JSONB))
    if values:
        await session.execute(
            update(Message).where(Message.id == message_id).values(values).execution_options(synchronize_session=False)
        )


async def conversation_file_ids(session: AsyncSession, conversation_id: uuid.UUID | None) -> list[uuid.UUID]:
    if conversation_id is None:
        return []
    rows = await session.scalars(
        select(File.id).where(File.conversation_id == conversation_id).order_by(File.created_at, File.id)
    )
    return list(rows)


_CLAIM_STALE = text(
    "UPDATE messages SET updated_at = now(), "
    "  metadata = jsonb_set(metadata, '{writer}', to_jsonb(gen_random_uuid()::text)) "
    "WHERE id IN ("
    "  SELECT id FROM messages "
    "  WHERE role = 'assistant' AND finish_reason IS NULL AND updated_at < now() - CAST(:stale AS interval) "
    "    AND NOT (id = ANY(:keep)) "
    "  ORDER BY updated_at LIMIT :at_most FOR UPDATE SKIP LOCKED"
    ") AND finish_reason IS NULL AND updated_at < now() - CAST(:stale AS interval) "
    "RETURNING id, conversation_id, metadata->>'writer'"
).bindparams(bindparam("keep", type_=ARRAY(Uuid())))


async def claim_stale(
    session: AsyncSession, *, stale_after: timedelta, keep: set[uuid.UUID], at_most: int
) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
    """Take over answers nobody is writing any more (their replica died, or let them go): their checkpoint is
    refreshed to now, so they are this replica's from the commit on, and each gets a new writer token
    (`metadata.writer`), which fences off the replica that wrote it so far should it still be alive. Exactly one
    replica gets each: the condition is checked again on the locked row, which a replica that claimed it first
    has refreshed. Returns (message id, conversation id, writer token) of each."""
    rows = await session.execute(_CLAIM_STALE, {"stale": stale_after, "keep": list(keep), "at_most": at_most})
    return [(row[0], row[1], row[2]) for row in rows]


async def mark_interrupted_ids(session: AsyncSession, message_ids: Sequence[uuid.UUID]) -> None:
    """These unfinished answers cannot be continued: `interrupted`, keeping what was checkpointed."""
    if message_ids:
        await session.execute(
            update(Message)
            .where(Message.id.in_(message_ids), Message.finish_reason.is_(None))
            .values(finish_reason="interrupted", extra=_WITHOUT_WRITER)
        )


async def save_released(
    session: AsyncSession, message_id: uuid.UUID, content: str, *, writer: str, owner: uuid.UUID
) -> bool:
    """Checkpoint an answer this replica lets go unfinished (a drain), dated far enough back that the other
    replicas' next sweep takes it over at once instead of waiting for the stale window; only while `writer` is
    still its writer token (False when another replica has taken it over already)."""
    result = await session.execute(
        update(Message)
        .where(Message.id == message_id, Message.finish_reason.is_(None), Message.extra["writer"].astext == writer)
        .values(
            content=_seal(await sealed.key_for(owner), content, message_id), updated_at=func.now() - timedelta(days=1)
        )
        .returning(Message.id)
    )
    return result.one_or_none() is not None
