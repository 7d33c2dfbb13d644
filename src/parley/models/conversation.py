from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Computed, ForeignKey, Index, LargeBinary, String, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, Timestamps, UUIDPrimaryKey


class Conversation(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "conversations"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300), server_default="New chat")
    model: Mapped[str | None] = mapped_column(String(200))
    system_prompt: Mapped[str | None] = mapped_column(Text)
    is_archived: Mapped[bool] = mapped_column(server_default=text("false"))
    # What made it: `chat` (the web chat, listed in its sidebar) or `responses` (stored responses of
    # `/v1/responses`, kept out of the chat history but part of the user's data: export, erasure, retention).
    source: Mapped[str] = mapped_column(String(16), server_default="chat")
    # A running summary of the turns that no longer fit the model's context, and the last message it covers.
    summary: Mapped[str | None] = mapped_column(Text)
    summary_through_message_id: Mapped[uuid.UUID | None]
    # README, "PII": the conversation's pseudonyms (placeholder -> value), sealed with the user's data key.
    pii_mapping: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    # Newest activity (creation, then each message) orders the sidebar.
    # Multi-region: the region whose deployment stored it (`PARLEY_REGION`; None: single region).
    region: Mapped[str | None] = mapped_column(String(32))
    __region_attribute__ = "region"

    last_activity_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # README, "Encryption at rest": the title sealed with the user's data key (`title` is then empty, or the
    # default title), and blind-index tokens of its words.
    title_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    search_terms: Mapped[list[bytes] | None] = mapped_column(ARRAY(LargeBinary))
    title_search: Mapped[str] = mapped_column(
        TSVECTOR, Computed("to_tsvector('simple', coalesce(title, ''))", persisted=True)
    )

    __table_args__ = (
        Index("ix_conversations_user_activity", "user_id", "is_archived", "last_activity_at", "id"),
        Index("ix_conversations_title_search", "title_search", postgresql_using="gin"),
        Index("ix_conversations_search_terms", "search_terms", postgresql_using="gin"),
    )
