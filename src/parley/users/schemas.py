from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from parley.auth.permissions import Role
from parley.kit.inputs import Input
from parley.policy.plans import PLAN_NAME_PATTERN


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str | None
    role: str
    subscription_tier: str
    is_active: bool
    cost_centre: str | None = None
    created_at: datetime
    last_login_at: datetime | None


class ProfileUpdate(Input):
    """What a user may change about themselves. Anything else (role, tier, is_active…) is refused with 422."""

    full_name: str | None = Field(default=None, max_length=200)
    current_password: str | None = Field(default=None, min_length=1, max_length=256)
    new_password: str | None = Field(default=None, min_length=1, max_length=256)


class AdminUserUpdate(Input):
    role: Role | None = None
    # The name of a plan (GET /api/v1/admin/plans); one that does not exist is refused with 422.
    subscription_tier: str | None = Field(default=None, pattern=PLAN_NAME_PATTERN)
    # Chargeback key for the admin analytics; null or "" clears it, leaving it out keeps it.
    cost_centre: str | None = Field(default=None, max_length=100)
