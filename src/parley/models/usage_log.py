from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, false, func
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, UUIDPrimaryKey


class UsageLog(UUIDPrimaryKey, Base):
    __tablename__ = "usage_logs"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"))
    message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    model: Mapped[str] = mapped_column(String(200))
    prompt_tokens: Mapped[int] = mapped_column(server_default="0")
    completion_tokens: Mapped[int] = mapped_column(server_default="0")
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(14, 6), server_default="0")
    latency_ms: Mapped[int | None]
    ttft_ms: Mapped[int | None]
    # Answered from the response cache: no provider was called; `saved_usd` is what it would have cost.
    cache_hit: Mapped[bool] = mapped_column(server_default=false())
    saved_usd: Mapped[Decimal] = mapped_column(Numeric(14, 6), server_default="0")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        Index("ix_usage_logs_user_created", "user_id", "created_at"),
        Index("ix_usage_logs_created_model", "created_at", "model"),
    )
