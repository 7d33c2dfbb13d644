from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parley.kit.inputs import Input
from parley.policy.plans import PLAN_NAME_PATTERN
from parley.roles.schemas import ROLE_NAME_PATTERN


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str | None
    role: str
    # What the caller may do on this call (GET /users/me only): their roles' permissions, or an API key's scopes.
    permissions: list[str] | None = None
    # GET /users/me only: the hosts answers' Markdown images may load from besides this app (safety.image_hosts).
    image_hosts: list[str] | None = None
    subscription_tier: str
    is_active: bool
    cost_centre: str | None = None
    # Multi-region: the region whose deployment holds the account and its data (null: single region).
    home_region: str | None = None
    # An admin's overrides of the plan's limits: only the keys set (null value: unlimited); null: none.
    limits: dict[str, Any] | None = None
    created_at: datetime
    last_login_at: datetime | None


class AdminUserRead(UserRead):
    """A user as administrators see them: also their legal hold (GDPR, issue 14), which users do not see."""

    legal_hold_at: datetime | None = Field(default=None, description="Since when a legal hold is set; null: none")
    legal_hold_reason: str | None = None


class ProfileUpdate(Input):
    """What a user may change about themselves. Anything else (role, tier, is_active…) is refused with 422."""

    full_name: str | None = Field(default=None, max_length=200)
    current_password: str | None = Field(default=None, min_length=1, max_length=256)
    new_password: str | None = Field(default=None, min_length=1, max_length=256)


class AdminUserUpdate(Input):
    # `user`, `admin` or a custom role (GET /api/v1/admin/roles); one that does not exist is refused with 422.
    role: str | None = Field(default=None, pattern=ROLE_NAME_PATTERN)
    # The name of a plan (GET /api/v1/admin/plans); one that does not exist is refused with 422.
    subscription_tier: str | None = Field(default=None, pattern=PLAN_NAME_PATTERN)
    # Chargeback key for the admin analytics; null or "" clears it, leaving it out keeps it.
    cost_centre: str | None = Field(default=None, max_length=100)


class QuotaRead(BaseModel):
    """One token quota or budget as it stands. USD amounts are rounded to the cent; `fraction_used` is what is
    spent over the limit (1.0 once used up), from the exact amounts."""

    name: str = Field(description="tokens-day | tokens-month | usd-month | group-usd-month")
    unit: Literal["tokens", "usd"]
    # Whole tokens (integers) or USD (to the cent).
    limit: int | float
    used: int | float
    # Held by answers being written now (their estimate, settled to the real usage when they end).
    reserved: int | float
    left: int | float
    fraction_used: float
    resets_at: datetime
    # A group's shared monthly budget (`group-usd-month`): the group drawn on.
    group_id: uuid.UUID | None = None
    group_name: str | None = None


class RequestRateRead(BaseModel):
    """The plan's chat requests per minute (a moving window of 60 s)."""

    limit: int
    remaining: int
    resets_at: datetime = Field(description="When the oldest request counted leaves the window")


class ConcurrentAnswersRead(BaseModel):
    limit: int | None = Field(description="Answers you may have being written at once; null: no limit")
    running: int


class MyLimits(BaseModel):
    """Every limit that applies to you (your plan, raised by your groups and set by your overrides), what is used,
    what is left and when it comes back."""

    plan: str
    quotas: list[QuotaRead]
    requests_per_minute: RequestRateRead | None = Field(description="null: the plan has no per-minute limit")
    concurrent_answers: ConcurrentAnswersRead
    max_upload_mib: int | None = Field(description="Largest upload; null: no plan limit")
    models: list[str] | None = Field(description="Models you may use; null: every configured model")
