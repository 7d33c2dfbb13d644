from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, Timestamps, UUIDPrimaryKey


class UserExport(UUIDPrimaryKey, Timestamps, Base):
    """A user's request for a copy of their data (GDPR Art. 20): built in the background into a zip kept in the
    storage layer until `expires_at`, then deleted (the row stays, `expired`, so the user sees what happened)."""

    __tablename__ = "user_exports"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # queued | running | ready | failed | expired
    status: Mapped[str] = mapped_column(String(16), server_default="queued")
    storage_key: Mapped[str | None] = mapped_column(String(500))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    ready_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_user_exports_user_created", "user_id", "created_at"),)
