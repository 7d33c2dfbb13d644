from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, UUIDPrimaryKey


class SsoLoginRequest(UUIDPrimaryKey, Base):
    """A sign-in sent to an identity provider and not yet back. Kept server-side (not in a cookie) so each one
    can be used once, on any replica: the callback deletes the row it consumes."""

    __tablename__ = "sso_login_requests"

    # sha256 of the `state` sent to the provider, and of the random value in the browser's cookie that started
    # it (a callback from another browser is refused: login CSRF).
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(40))
    nonce: Mapped[str] = mapped_column(String(128))
    # PKCE: the verifier whose S256 challenge went to the provider.
    code_verifier: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_sso_login_requests_expires_at", "expires_at"),)
