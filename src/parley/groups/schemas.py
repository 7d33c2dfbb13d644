from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, EmailStr, Field, field_validator, model_validator

from parley.kit.inputs import Input, clean_name
from parley.roles.schemas import ROLE_NAME_PATTERN


class GroupCreate(Input):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=1000)
    # A custom role (GET /api/v1/admin/roles) every member holds on top of their own; null: none.
    role: str | None = Field(default=None, pattern=ROLE_NAME_PATTERN)

    _name = field_validator("name")(clean_name)


class GroupUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    # A custom role every member holds on top of their own; null takes it away, leaving it out keeps it.
    role: str | None = Field(default=None, pattern=ROLE_NAME_PATTERN)

    _name = field_validator("name")(clean_name)


class GroupSummary(BaseModel):
    """What every signed-in user may see of a group: enough to pick it when sharing."""

    id: uuid.UUID
    name: str
    description: str
    member_count: int


class Group(GroupSummary):
    # The custom role every member holds on top of their own; null: none.
    role: str | None = None
    # Limits the group gives its members and its shared monthly budget: only the keys set; null: none.
    limits: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime


class MemberAdd(Input):
    """Exactly one of the two."""

    user_email: EmailStr | None = Field(default=None, max_length=320)
    user_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_user(self) -> MemberAdd:
        if (self.user_email is None) == (self.user_id is None):
            raise ValueError("name exactly one user: user_email or user_id")
        return self


class GroupMember(BaseModel):
    user_id: uuid.UUID
    email: str
    name: str | None
    role: str
    is_active: bool
    added_at: datetime
