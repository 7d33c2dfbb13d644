from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from parley.auth.permissions import Permission
from parley.kit.inputs import Input

# Lower-case letters, digits, `-` and `_`, starting with a letter: a name that reads the same in a URL, a claim
# mapping and a log line.
ROLE_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"


class RoleCreate(Input):
    name: str = Field(pattern=ROLE_NAME_PATTERN, description="Not `user` or `admin` (built in)")
    description: str = Field(default="", max_length=1000)
    permissions: list[Permission] = Field(max_length=len(Permission))


class RoleUpdate(Input):
    """Only the fields given change; renaming keeps the users and groups that hold the role."""

    name: str | None = Field(default=None, pattern=ROLE_NAME_PATTERN)
    description: str | None = Field(default=None, max_length=1000)
    permissions: list[Permission] | None = Field(default=None, max_length=len(Permission))


class RoleRead(BaseModel):
    """A role: a built-in one (`id` null, not editable) or one administrators defined."""

    id: uuid.UUID | None
    name: str
    description: str
    permissions: list[Permission]
    built_in: bool
    user_count: int = Field(description="Users whose own role this is")
    group_count: int = Field(description="Groups whose members hold it")
    created_at: datetime | None
    updated_at: datetime | None
