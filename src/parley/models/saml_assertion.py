from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base


class SamlAssertion(Base):
    """A SAML assertion that signed someone in, remembered until it expires so that the same assertion posted
    again (a replay: from a proxy log, the browser history, a stolen form) is refused on every replica."""

    __tablename__ = "saml_assertions"

    # sha256 of the IdP's entity id and the assertion's ID (ids are only unique per issuer).
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    # When the assertion stops being acceptable anyway (its NotOnOrAfter): the row may go then.
    expires_at: Mapped[datetime]

    __table_args__ = (Index("ix_saml_assertions_expires_at", "expires_at"),)
