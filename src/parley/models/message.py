from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, Timestamps, UUIDPrimaryKey


class Message(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "messages"

    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    # Insertion order: a question and its answer are saved in one transaction, so share a timestamp.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # system | user | assistant
    content: Mapped[str] = mapped_column(Text, server_default="")
    model: Mapped[str | None] = mapped_column(String(200))
    prompt_tokens: Mapped[int | None]
    completion_tokens: Mapped[int | None]
    # stop | length | cancelled | interrupted | error; null while generating.
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    extra: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default="{}")
    # Sources of a grounded answer: [{n, file_id, filename, page, snippet}]; `[n]` in the content points here.
    citations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    # The conversation owner's rating of an answer: 1 (thumbs up) or -1 (down), with an optional comment.
    feedback_rating: Mapped[int | None] = mapped_column(SmallInteger)
    feedback_comment: Mapped[str | None] = mapped_column(Text)
    feedback_at: Mapped[datetime | None]
    # README, "Encryption at rest": blind-index tokens of the content's words (`parley.crypto.content.terms`).
    search_terms: Mapped[list[bytes] | None] = mapped_column(ARRAY(LargeBinary))
    content_search: Mapped[str] = mapped_column(
        TSVECTOR, Computed("to_tsvector('simple', coalesce(content, ''))", persisted=True)
    )

    __table_args__ = (
        CheckConstraint("feedback_rating IS NULL OR feedback_rating IN (1, -1)", name="feedback_rating"),
        Index("ix_messages_conversation_created", "conversation_id", "created_at", "id"),
        Index("ix_messages_conversation_seq", "conversation_id", "seq"),
        Index("ix_messages_content_search", "content_search", postgresql_using="gin"),
        Index("ix_messages_search_terms", "search_terms", postgresql_using="gin"),
        Index(
            "ix_messages_unfinished",
            "updated_at",
            postgresql_where=text("finish_reason IS NULL AND role = 'assistant'"),
        ),
    )
