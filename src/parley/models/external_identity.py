from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, Timestamps, UUIDPrimaryKey


class ExternalIdentity(UUIDPrimaryKey, Timestamps, Base):
    """An account at an identity provider (OIDC or SAML) linked to a Parley user: the provider's stable
    subject, not the email, is what recognises the user at the next sign-in (emails change and get reused)."""

    __tablename__ = "external_identities"

    # "oidc" or "saml"; `provider` is the id of the provider in the settings.
    kind: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The email the provider last asserted (for administrators; never used to sign in).
    email: Mapped[str | None] = mapped_column(String(320))
    last_login_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("kind", "provider", "subject", name="uq_external_identities_kind_provider_subject"),
        Index("ix_external_identities_user_id", "user_id"),
    )
