from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, func
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base


class ConversationKnowledgeBase(Base):
    """A knowledge base attached to a conversation: used for every later message of it."""

    __tablename__ = "conversation_knowledge_bases"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    knowledge_base_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="CASCADE"), primary_key=True
    )
    added_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_conversation_knowledge_bases_kb", "knowledge_base_id"),)
