from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, UUIDPrimaryKey


class KnowledgeBaseGrant(UUIDPrimaryKey, Base):
    """Who may use a knowledge base besides its owner: one user, everyone with a role, or every member of a
    group."""

    __tablename__ = "knowledge_base_grants"

    knowledge_base_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str | None] = mapped_column(String(32))
    group_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    # read: retrieve and cite; write: also add and remove files.
    permission: Mapped[str] = mapped_column(String(16), server_default="read")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        CheckConstraint("num_nonnulls(user_id, role, group_id) = 1", name="one_grantee"),
        CheckConstraint("permission IN ('read', 'write')", name="permission"),
        Index(
            "uq_knowledge_base_grants_user",
            "knowledge_base_id",
            "user_id",
            unique=True,
            postgresql_where=text("user_id IS NOT NULL"),
        ),
        Index(
            "uq_knowledge_base_grants_role",
            "knowledge_base_id",
            "role",
            unique=True,
            postgresql_where=text("role IS NOT NULL"),
        ),
        Index(
            "uq_knowledge_base_grants_group",
            "knowledge_base_id",
            "group_id",
            unique=True,
            postgresql_where=text("group_id IS NOT NULL"),
        ),
        Index("ix_knowledge_base_grants_user_id", "user_id"),
        Index("ix_knowledge_base_grants_group_id", "group_id"),
        Index("ix_knowledge_base_grants_role", "role"),
    )
