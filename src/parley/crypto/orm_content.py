"""Sealed columns of `Message`, `Conversation`, `FileChunk`, `File` and `KnowledgeBase` opened where the ORM loads
them, and a conversation's title and summary, new chunks, a file's name and a knowledge base's name and description
sealed where the ORM flushes them (`parley.crypto.content`).

Loads and flushes of an `AsyncSession` run in SQLAlchemy's greenlet, so a data key not in memory yet is awaited
there (`open_text_in_greenlet`); objects then hold plaintext, and nothing of them is marked changed. Statements
that bypass the ORM (the chat's history as JSON, multi-row inserts, checkpoints) seal and open themselves.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, attributes

from parley.crypto import content
from parley.kit.languages import text_search_language
from parley.models import AnswerReport, Conversation, File, FileChunk, KnowledgeBase, Message

# The title every conversation starts with: not the user's words, kept readable so `set_default_title` can tell
# a conversation nobody titled yet.
DEFAULT_TITLE = "New chat"
_RESTORE = "parley.crypto.restore_plaintext"
_RESTORE_CHUNKS = "parley.crypto.restore_chunks"
_RESTORE_NAMES = "parley.crypto.restore_names"


def _open_message(target: Message) -> None:
    state = target.__dict__
    for column in ("content", "feedback_comment"):
        value = state.get(column)
        if isinstance(value, str) and content.is_sealed(value):
            context = content.context_of("messages", column, target.id)
            attributes.set_committed_value(target, column, content.open_text_in_greenlet(value, context=context))

    citations = state.get("citations")
    fields = content.SEALED_CITATION_FIELDS
    if isinstance(citations, list) and any(
        isinstance(item, dict) and any(content.is_sealed(item.get(field)) for field in fields) for item in citations
    ):
        opened = [
            {
                **item,
                **{
                    field: content.open_text_in_greenlet(
                        item[field], context=content.citation_context(target.id, n, field)
                    )
                    for field in fields
                    if content.is_sealed(item.get(field))
                },
            }
            if isinstance(item, dict)
            else item
            for n, item in enumerate(citations)
        ]
        attributes.set_committed_value(target, "citations", opened)


def _open_conversation(target: Conversation) -> None:
    state = target.__dict__
    sealed_title = state.get("title_sealed")
    if isinstance(sealed_title, bytes):
        key = content.opening_key_in_greenlet(sealed_title)
        title = key.open(sealed_title, context=content.conversation_context("title", target.id)).decode()
        attributes.set_committed_value(target, "title", title)
    summary = state.get("summary")
    if isinstance(summary, str) and content.is_sealed(summary):
        context = content.conversation_context("summary", target.id)
        attributes.set_committed_value(target, "summary", content.open_text_in_greenlet(summary, context=context))


@event.listens_for(Message, "load")
def _message_loaded(target: Message, _context: Any) -> None:
    _open_message(target)


@event.listens_for(Message, "refresh")
def _message_refreshed(target: Message, _context: Any, _attrs: Any) -> None:
    _open_message(target)


@event.listens_for(Conversation, "load")
def _conversation_loaded(target: Conversation, _context: Any) -> None:
    _open_conversation(target)


@event.listens_for(Conversation, "refresh")
def _conversation_refreshed(target: Conversation, _context: Any, _attrs: Any) -> None:
    _open_conversation(target)


@dataclass(frozen=True)
class _SealedName:
    """A short text column sealed into a bytea twin (the column then holds an empty string): names, which must
    keep their column's length limit. `owner`: the attribute naming whose data key seals it."""

    model: type[Any]
    column: str
    sealed: str
    owner: str

    def context(self, row_id: uuid.UUID) -> str:
        return content.context_of(self.model.__tablename__, self.column, row_id)


_SEALED_NAMES = (
    _SealedName(File, "filename", "filename_sealed", "user_id"),
    _SealedName(KnowledgeBase, "name", "name_sealed", "owner_id"),
)
# Longer texts sealed in place behind the marker (`content.seal_with`), with the same owners.
_SEALED_TEXTS = (
    (KnowledgeBase, "description", "owner_id"),
    # A report of an answer: the reporter's text and the exchange it copies (parley.reports).
    (AnswerReport, "comment", "user_id"),
    (AnswerReport, "question", "user_id"),
    (AnswerReport, "answer", "user_id"),
)


def _open_names(target: Any) -> None:
    state = target.__dict__
    for spec in _SEALED_NAMES:
        if isinstance(target, spec.model) and isinstance(sealed := state.get(spec.sealed), bytes):
            opened = content.opening_key_in_greenlet(sealed).open(sealed, context=spec.context(target.id))
            attributes.set_committed_value(target, spec.column, opened.decode())
    for model, column, _ in _SEALED_TEXTS:
        if isinstance(target, model) and content.is_sealed(value := state.get(column)):
            opened_text = content.open_text_in_greenlet(
                value, context=content.context_of(model.__tablename__, column, target.id)
            )
            attributes.set_committed_value(target, column, opened_text)


for _model in {spec.model for spec in _SEALED_NAMES} | {model for model, _, _ in _SEALED_TEXTS}:
    event.listen(_model, "load", lambda target, _context: _open_names(target))
    event.listen(_model, "refresh", lambda target, _context, _attrs: _open_names(target))


def _seal_names(session: Session) -> None:
    """Names and descriptions, new or changed, sealed with their owner's key (see `_SEALED_NAMES`)."""
    if not content.sealing():
        return
    for target in [*session.new, *session.dirty]:
        new = target in session.new
        for spec in _SEALED_NAMES:
            if not isinstance(target, spec.model) or not (name := getattr(target, spec.column)):
                continue
            if not new and not attributes.get_history(target, spec.column).has_changes():
                continue
            if target.id is None:  # bound into the sealed value: given now, not at the INSERT
                target.id = uuid.uuid4()
            key = content.await_key_for(getattr(target, spec.owner))
            setattr(target, spec.sealed, key.seal(name.encode(), context=spec.context(target.id)))
            setattr(target, spec.column, "")
            session.info.setdefault(_RESTORE_NAMES, []).append((target, spec.column, name))
        for model, column, owner in _SEALED_TEXTS:
            value = getattr(target, column, None) if isinstance(target, model) else None
            if not value or content.is_sealed(value):
                continue
            if not new and not attributes.get_history(target, column).has_changes():
                continue
            if target.id is None:
                target.id = uuid.uuid4()
            place = content.context_of(model.__tablename__, column, target.id)
            setattr(
                target, column, content.seal_with(content.await_key_for(getattr(target, owner)), value, context=place)
            )
            session.info.setdefault(_RESTORE_NAMES, []).append((target, column, value))


@event.listens_for(FileChunk, "load")
def _chunk_loaded(target: FileChunk, _context: Any) -> None:
    text = target.__dict__.get("text")
    if isinstance(text, str) and content.is_sealed(text):
        opened = content.open_text_in_greenlet(text, context=content.chunk_context(target.id))
        attributes.set_committed_value(target, "text", opened)


def _seal_new_chunks(session: Session) -> None:
    """Chunks added through the ORM (ingestion itself inserts sealed rows): sealed like ingestion's."""
    for target in session.new:
        if isinstance(target, FileChunk) and target.text and not content.is_sealed(target.text):
            if target.id is None:
                target.id = uuid.uuid4()
            language = target.language or text_search_language(target.text)
            target.language = language
            target.search_terms = content.document_terms(content.await_key_for(None), target.text, language)
            text = target.text
            target.text = content.seal_with(
                content.await_key_for(target.user_id), text, context=content.chunk_context(target.id)
            )
            session.info.setdefault(_RESTORE_CHUNKS, []).append((target, text))


@event.listens_for(Session, "before_flush")
def _seal_conversations(session: Session, _context: Any, _instances: Any) -> None:
    crypto = content.active()
    if crypto is None:
        return
    _seal_new_chunks(session)
    _seal_names(session)
    restore: list[tuple[Conversation, str, str | None]] = []
    for target in [*session.new, *session.dirty]:
        if not isinstance(target, Conversation):
            continue
        title, summary = target.title, target.summary
        title_changed = target in session.new or attributes.get_history(target, "title").has_changes()
        titled = title is not None and title not in ("", DEFAULT_TITLE)
        sealed_summary = content.sealing() and summary is not None and not content.is_sealed(summary)
        if not (title_changed or sealed_summary):
            continue
        if target.id is None:  # its id is bound into the sealed values: given now, not at the INSERT
            target.id = uuid.uuid4()
        key = content.await_key_for(target.user_id)
        if title_changed:
            if titled and content.sealing():
                place = content.conversation_context("title", target.id)
                target.title_sealed = key.seal(title.encode(), context=place)
                target.title = ""
            else:  # the default title, or sealing off (a rolling upgrade): the title as written
                target.title_sealed = None
            target.search_terms = content.terms(key, [title] if titled else [])
        if sealed_summary and summary is not None:
            target.summary = content.seal_with(key, summary, context=content.conversation_context("summary", target.id))
        restore.append((target, title, summary))
    if restore:
        session.info.setdefault(_RESTORE, []).extend(restore)


@event.listens_for(Session, "after_flush_postexec")
def _restore_plaintext(session: Session, _context: Any) -> None:
    for target, column, value in session.info.pop(_RESTORE_NAMES, ()):
        attributes.set_committed_value(target, column, value)
    for chunk, text in session.info.pop(_RESTORE_CHUNKS, ()):
        attributes.set_committed_value(chunk, "text", text)
    for target, title, summary in session.info.pop(_RESTORE, ()):
        attributes.set_committed_value(target, "title", title)
        attributes.set_committed_value(target, "summary", summary)
