from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base


class ExternalGroup(Base):
    """A Parley group kept in step with an identity provider's group claim: at each sign-in through that
    provider, a user's memberships of these groups are replaced by the claim. Groups without a row here are
    administrators' own and sign-in never touches them."""

    __tablename__ = "external_groups"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40), primary_key=True)
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
