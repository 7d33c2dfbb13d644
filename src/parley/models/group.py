from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, Timestamps, UUIDPrimaryKey


class Group(UUIDPrimaryKey, Timestamps, Base):
    """A named set of users (a team, a department) that administrators keep, for sharing with all of them."""

    __tablename__ = "groups"

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, server_default="")
    # Limits the group gives its members (the most generous of plan and groups wins) and its shared monthly
    # budget (`parley.policy.quotas.GroupLimits`); null: none.
    limits: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The identity provider's id for the group (SCIM `externalId`, issue 12).
    external_id: Mapped[str | None] = mapped_column(String(255), index=True)
    # A custom role (`roles.name`) every member holds on top of their own; null: none.
    role: Mapped[str | None] = mapped_column(String(32), index=True)

    __table_args__ = (
        # Names are unique regardless of case: "Finance" and "finance" would be the same group to a person.
        Index("uq_groups_name_lower", func.lower(name), unique=True),
    )


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(server_default=func.now())

    # The primary key serves "members of a group"; access checks ask "groups of a user".
    __table_args__ = (Index("ix_group_members_user_id", "user_id"),)
