"""`parley keys seal-existing`: seal the rows written before encryption at rest (README, "Encryption at rest").

Messages (text, feedback comment), conversation titles and summaries, document chunks, file names, knowledge
bases' names and descriptions, and reports of answers (the reporter's text and the exchange) that still hold
plaintext are sealed with their owner's data key and given their blind-index tokens, in batches of `batch` rows,
each batch its own short transaction (rows another transaction holds are skipped and taken by a later pass), so it
runs beside a live deployment. An answer still being written is left to its writer, which seals its next
checkpoint itself. Run it again until it reports nothing left; it is idempotent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import LargeBinary, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine

from parley.crypto import content
from parley.crypto.keyring import Crypto

_MESSAGES = text(
    "SELECT m.id, m.content, m.feedback_comment, c.user_id FROM messages m "
    "JOIN conversations c ON c.id = m.conversation_id "
    "WHERE (m.finish_reason IS NOT NULL OR m.role <> 'assistant') AND ("
    "  (m.content <> '' AND NOT starts_with(m.content, :marker)) "
    "  OR (m.feedback_comment <> '' AND NOT starts_with(m.feedback_comment, :marker))"
    ") ORDER BY m.id LIMIT :batch FOR UPDATE OF m SKIP LOCKED"
)
_UPDATE_MESSAGES = text(
    "UPDATE messages SET content = :content, feedback_comment = :comment, search_terms = :terms WHERE id = :id"
).bindparams(bindparam("terms", type_=ARRAY(LargeBinary())))
_CONVERSATIONS = text(
    "SELECT id, user_id, title, summary FROM conversations "
    "WHERE (title_sealed IS NULL AND title NOT IN ('', 'New chat')) "
    "   OR (summary <> '' AND NOT starts_with(summary, :marker)) "
    "ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED"
)
_UPDATE_CONVERSATION = text(
    "UPDATE conversations SET title = :title, title_sealed = :title_sealed, summary = :summary, "
    "search_terms = :terms WHERE id = :id"
).bindparams(bindparam("title_sealed", type_=LargeBinary()), bindparam("terms", type_=ARRAY(LargeBinary())))
_CHUNKS = text(
    "SELECT id, user_id, text, CAST(language AS text) FROM file_chunks "
    "WHERE NOT starts_with(text, :marker) ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED"
)
_UPDATE_CHUNK = text("UPDATE file_chunks SET text = :text, search_terms = :terms WHERE id = :id").bindparams(
    bindparam("terms", type_=ARRAY(LargeBinary()))
)
_FILES = text(
    "SELECT id, user_id, filename FROM files WHERE filename_sealed IS NULL AND filename <> '' "
    "ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED"
)
_UPDATE_FILE = text("UPDATE files SET filename = '', filename_sealed = :sealed WHERE id = :id").bindparams(
    bindparam("sealed", type_=LargeBinary())
)
_KNOWLEDGE_BASES = text(
    "SELECT id, owner_id, name, description FROM knowledge_bases "
    "WHERE (name_sealed IS NULL AND name <> '') OR (description <> '' AND NOT starts_with(description, :marker)) "
    "ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED"
)
_UPDATE_KNOWLEDGE_BASE = text(
    "UPDATE knowledge_bases SET name = :name, name_sealed = COALESCE(:sealed, name_sealed), "
    "description = :description WHERE id = :id"
).bindparams(bindparam("sealed", type_=LargeBinary()))

_REPORTS = text(
    "SELECT id, user_id, comment, question, answer FROM answer_reports "
    "WHERE (comment <> '' AND NOT starts_with(comment, :marker)) "
    "   OR (question <> '' AND NOT starts_with(question, :marker)) "
    "   OR (answer <> '' AND NOT starts_with(answer, :marker)) "
    "ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED"
)
_UPDATE_REPORT = text(
    "UPDATE answer_reports SET comment = :comment, question = :question, answer = :answer WHERE id = :id"
)
_REPORT_TEXTS = ("comment", "question", "answer")


@dataclass
class Sealed:
    """How many rows of each kind this run sealed."""

    counts: dict[str, int] = field(
        default_factory=lambda: {
            "messages": 0,
            "conversations": 0,
            "chunks": 0,
            "file names": 0,
            "knowledge bases": 0,
            "reports": 0,
        }
    )

    def __str__(self) -> str:
        return ", ".join(f"{n} {kind}" for kind, n in self.counts.items())


async def seal_existing(engine: AsyncEngine, crypto: Crypto, *, batch: int = 500) -> Sealed:
    """Seal every plaintext row (see the module's docstring); what was sealed. Refused while
    `PARLEY_CRYPTO__SEAL_CONTENT` is off (nothing would be sealed)."""
    if not crypto.seal_content:
        raise ValueError("PARLEY_CRYPTO__SEAL_CONTENT is off: turn it on (every pod upgraded) before sealing rows")
    if content.active() is not crypto:
        content.install(crypto)
    sealed = Sealed()
    while n := await _messages(engine, crypto, batch):
        sealed.counts["messages"] += n
    while n := await _conversations(engine, crypto, batch):
        sealed.counts["conversations"] += n
    while n := await _chunks(engine, crypto, batch):
        sealed.counts["chunks"] += n
    while n := await _file_names(engine, crypto, batch):
        sealed.counts["file names"] += n
    while n := await _knowledge_bases(engine, crypto, batch):
        sealed.counts["knowledge bases"] += n
    while n := await _reports(engine, crypto, batch):
        sealed.counts["reports"] += n
    return sealed


async def _messages(engine: AsyncEngine, crypto: Crypto, batch: int) -> int:
    async with engine.begin() as connection:
        rows = (await connection.execute(_MESSAGES, {"batch": batch, "marker": content.MARKER})).all()
        if not rows:
            return 0
        keys = await crypto.keys_for({row.user_id for row in rows})
        values: list[dict[str, Any]] = []
        for row in rows:
            key = keys[row.user_id]
            plain = await content.open_text(row.content, context=content.message_context(row.id))
            stored = content.seal_with(key, plain, context=content.message_context(row.id)) if plain else plain
            comment = row.feedback_comment
            if comment and not content.is_sealed(comment):
                place = content.context_of("messages", "feedback_comment", row.id)
                comment = content.seal_with(key, comment, context=place)
            values.append({"id": row.id, "content": stored, "comment": comment, "terms": content.terms(key, [plain])})
        await connection.execute(_UPDATE_MESSAGES, values)
        return len(rows)


async def _conversations(engine: AsyncEngine, crypto: Crypto, batch: int) -> int:
    async with engine.begin() as connection:
        rows = (await connection.execute(_CONVERSATIONS, {"batch": batch, "marker": content.MARKER})).all()
        if not rows:
            return 0
        keys = await crypto.keys_for({row.user_id for row in rows})
        for row in rows:
            key = keys[row.user_id]
            conversation_id: uuid.UUID = row.id
            title, title_sealed, terms = row.title, None, None
            if title not in ("", "New chat"):
                title_sealed = key.seal(title.encode(), context=content.conversation_context("title", conversation_id))
                terms, title = content.terms(key, [title]), ""
            summary = row.summary
            if summary and not content.is_sealed(summary):
                summary = content.seal_with(key, summary, context=content.conversation_context("summary", row.id))
            await connection.execute(
                _UPDATE_CONVERSATION,
                {"id": row.id, "title": title, "title_sealed": title_sealed, "summary": summary, "terms": terms},
            )
        return len(rows)


async def _chunks(engine: AsyncEngine, crypto: Crypto, batch: int) -> int:
    async with engine.begin() as connection:
        rows = (await connection.execute(_CHUNKS, {"batch": batch, "marker": content.MARKER})).all()
        if not rows:
            return 0
        keys = await crypto.keys_for({*(row.user_id for row in rows), None})
        index_key = keys[None]
        for row in rows:
            sealed_text = content.seal_with(keys[row.user_id], row.text, context=content.chunk_context(row.id))
            terms = content.document_terms(index_key, row.text, row.language)
            await connection.execute(_UPDATE_CHUNK, {"id": row.id, "text": sealed_text, "terms": terms})
        return len(rows)


async def _file_names(engine: AsyncEngine, crypto: Crypto, batch: int) -> int:
    async with engine.begin() as connection:
        rows = (await connection.execute(_FILES, {"batch": batch})).all()
        if not rows:
            return 0
        keys = await crypto.keys_for({row.user_id for row in rows})
        values = [
            {
                "id": row.id,
                "sealed": keys[row.user_id].seal(row.filename.encode(), context=content.file_name_context(row.id)),
            }
            for row in rows
        ]
        await connection.execute(_UPDATE_FILE, values)
        return len(rows)


async def _knowledge_bases(engine: AsyncEngine, crypto: Crypto, batch: int) -> int:
    async with engine.begin() as connection:
        rows = (await connection.execute(_KNOWLEDGE_BASES, {"batch": batch, "marker": content.MARKER})).all()
        if not rows:
            return 0
        keys = await crypto.keys_for({row.owner_id for row in rows})
        values: list[dict[str, Any]] = []
        for row in rows:
            key, name, sealed_name = keys[row.owner_id], row.name, None
            if name:
                sealed_name = key.seal(name.encode(), context=content.context_of("knowledge_bases", "name", row.id))
                name = ""
            description = row.description
            if description and not content.is_sealed(description):
                place = content.context_of("knowledge_bases", "description", row.id)
                description = content.seal_with(key, description, context=place)
            values.append({"id": row.id, "name": name, "sealed": sealed_name, "description": description})
        await connection.execute(_UPDATE_KNOWLEDGE_BASE, values)
        return len(rows)


async def _reports(engine: AsyncEngine, crypto: Crypto, batch: int) -> int:
    async with engine.begin() as connection:
        rows = (await connection.execute(_REPORTS, {"batch": batch, "marker": content.MARKER})).all()
        if not rows:
            return 0
        keys = await crypto.keys_for({row.user_id for row in rows})
        values: list[dict[str, Any]] = []
        for row in rows:
            sealed: dict[str, Any] = {"id": row.id}
            for column in _REPORT_TEXTS:
                value = getattr(row, column)
                if value and not content.is_sealed(value):
                    place = content.context_of("answer_reports", column, row.id)
                    value = content.seal_with(keys[row.user_id], value, context=place)
                sealed[column] = value
            values.append(sealed)
        await connection.execute(_UPDATE_REPORT, values)
        return len(rows)
