from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base


class ScimState(Base):
    """The one row of SCIM provisioning state: the SHA-256 of the token admins created for the identity provider's
    SCIM client (shown once, never stored), when it was created, and when the client last called."""

    __tablename__ = "scim_state"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=1)
    token_hash: Mapped[str | None] = mapped_column(String(64))
    token_created_at: Mapped[datetime | None]
    last_call_at: Mapped[datetime | None]

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)
