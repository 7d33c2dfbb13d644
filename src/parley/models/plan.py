from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, Timestamps, UUIDPrimaryKey


class Plan(UUIDPrimaryKey, Timestamps, Base):
    """A subscription plan as admins keep it: its name (what users' `subscription_tier` holds) and its limits.

    The limits are one JSON document validated by `parley.policy.plans.Plan` on the way in and out, so a limit
    added to plans later needs no migration."""

    __tablename__ = "plans"

    name: Mapped[str] = mapped_column(String(32), unique=True)
    limits: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
