from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, Timestamps, UUIDPrimaryKey


class User(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "users"

    # Stored normalised (trimmed, lower-case); uniqueness is enforced on that form.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    hashed_password: Mapped[str | None] = mapped_column(String(255))
    full_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32), server_default="user")
    subscription_tier: Mapped[str] = mapped_column(String(32), server_default="free")
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    # Chargeback: the admin analytics group and export spend by this (free text, set by admins).
    cost_centre: Mapped[str | None] = mapped_column(String(100))
    last_login_at: Mapped[datetime | None]
    # An admin's overrides of the plan's limits (only the keys set; `parley.policy.quotas.LimitOverrides`).
    limits: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # SCIM provisioning (issue 12): the identity provider's id for the account (`externalId`), and when the IdP
    # deleted it (the account is then suspended and no longer exists for SCIM; its data stays).
    external_id: Mapped[str | None] = mapped_column(String(255), index=True)
    deprovisioned_at: Mapped[datetime | None]
    # Multi-region: the region whose deployment created the account (`PARLEY_REGION`; None: single region). The
    # user signs in only there (`auth.service`), so their data stays in that region.
    home_region: Mapped[str | None] = mapped_column(String(32))
    __region_attribute__ = "home_region"
    # GDPR (issue 14): a legal hold suspends retention deletes and erasure while set (when, and the admin's note).
    legal_hold_at: Mapped[datetime | None]
    legal_hold_reason: Mapped[str | None] = mapped_column(String(500))
    # A tombstone: the pseudonymous row an erased account's usage is kept under for billing (no email, name or
    # password; `gdpr.erasure`). Set only on such rows.
    erased_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_users_created_at", "created_at"),
        Index("ix_users_role_is_active", "role", "is_active"),
        # Admin search by email or name substring.
        Index(
            "ix_users_email_trgm",
            "email",
            postgresql_using="gin",
            postgresql_ops={"email": "gin_trgm_ops"},
        ),
        Index(
            "ix_users_full_name_trgm",
            "full_name",
            postgresql_using="gin",
            postgresql_ops={"full_name": "gin_trgm_ops"},
        ),
    )
