from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from parley.auth.permissions import Permission
from parley.kit.inputs import Input


class ApiKeyCreate(Input):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Permission] | None = Field(default=None, max_length=20)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650, strict=True)

    @field_validator("name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be blank")
        return value


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @field_validator("prefix", mode="before")
    @classmethod
    def _visible_prefix(cls, value: str) -> str:
        return value if value.startswith("pk-") else f"pk-{value}"


class ApiKeyCreated(ApiKeyRead):
    """Returned once, at creation: `key` is the secret and is never shown again."""

    key: str
