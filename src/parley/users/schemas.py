from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from parley.auth.permissions import Role
from parley.kit.inputs import Input


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
    subscription_tier: Literal["free", "pro", "enterprise"] | None = None
    # Chargeback key for the admin analytics; null or "" clears it, leaving it out keeps it.
    cost_centre: str | None = Field(default=None, max_length=100)
