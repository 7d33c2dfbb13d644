from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, Timestamps, UUIDPrimaryKey


class File(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "files"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"))
    # Sealed at rest (README, "Encryption at rest"): the name in `filename_sealed`, `filename` then empty in the
    # database; loaded objects hold the opened name in `filename` (`parley.crypto.orm_content`).
    filename: Mapped[str] = mapped_column(String(255))
    filename_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    file_type: Mapped[str] = mapped_column(String(100))
    file_size: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64))
    # pending | processing | ready | failed
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    status_reason: Mapped[str | None] = mapped_column(Text)
    # The media type decided from the content (magic bytes), served back on download.
    mime_type: Mapped[str] = mapped_column(String(100), server_default="application/octet-stream")
    page_count: Mapped[int | None]
    chunk_count: Mapped[int] = mapped_column(server_default="0")
    # The embedding model the chunks were embedded with; a different configured model means re-embedding.
    embedding_model: Mapped[str | None] = mapped_column(String(100))

    # Multi-region: the region whose deployment stored it (`PARLEY_REGION`; None: single region).
    region: Mapped[str | None] = mapped_column(String(32))
    __region_attribute__ = "region"

    __table_args__ = (
        Index("ix_files_user_created", "user_id", "created_at"),
        Index("ix_files_conversation_id", "conversation_id"),
    )
