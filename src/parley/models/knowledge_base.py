from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, Timestamps, UUIDPrimaryKey


class KnowledgeBase(UUIDPrimaryKey, Timestamps, Base):
    """A named set of files, shared with users or roles through grants."""

    __tablename__ = "knowledge_bases"

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Sealed at rest (README, "Encryption at rest") with the owner's data key: the name in `name_sealed` (`name`
    # then empty in the database), the description in place; loaded objects hold them opened.
    name: Mapped[str] = mapped_column(String(200))
    name_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    description: Mapped[str] = mapped_column(Text, server_default="")

    # Multi-region: the region whose deployment stored it (`PARLEY_REGION`; None: single region).
    region: Mapped[str | None] = mapped_column(String(32))
    __region_attribute__ = "region"

    __table_args__ = (Index("ix_knowledge_bases_owner_created", "owner_id", "created_at"),)
