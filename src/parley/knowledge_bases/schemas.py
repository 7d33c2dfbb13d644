from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from parley.auth.permissions import Role
from parley.kit.inputs import Input, clean_name


class KnowledgeBaseCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)

    _name = field_validator("name")(clean_name)


class KnowledgeBaseUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)

    _name = field_validator("name")(clean_name)


class KnowledgeBase(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    owner_id: uuid.UUID
    # What the caller may do: owner (everything), write (add and remove files, rename), read (search and cite).
    access: Literal["owner", "write", "read"]
    file_count: int
    created_at: datetime
    updated_at: datetime


class KnowledgeBaseFileAdd(Input):
    file_id: uuid.UUID


class KnowledgeBaseFile(BaseModel):
    """A file of a knowledge base (possibly another member's file)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    filename: str
    file_type: str
    file_size: int
    status: str
    chunk_count: int
    owner_id: uuid.UUID
    added_at: datetime


class GrantCreate(Input):
    """Exactly one grantee: a user (by email or id), everyone with a role, or every member of a group."""

    user_email: EmailStr | None = Field(default=None, max_length=320)
    user_id: uuid.UUID | None = None
    role: Role | None = None
    group_id: uuid.UUID | None = None
    permission: Literal["read", "write"] = "read"

    @model_validator(mode="after")
    def _one_grantee(self) -> GrantCreate:
        named = [name for name in ("user_email", "user_id", "role", "group_id") if getattr(self, name) is not None]
        if len(named) != 1:
            raise ValueError("name exactly one grantee: user_email, user_id, role or group_id")
        return self


class Grant(BaseModel):
    id: uuid.UUID
    knowledge_base_id: uuid.UUID
    user_id: uuid.UUID | None
    user_email: str | None
    role: str | None
    group_id: uuid.UUID | None
    group_name: str | None
    permission: Literal["read", "write"]
    created_at: datetime
