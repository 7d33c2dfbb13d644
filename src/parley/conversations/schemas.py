from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from parley.kit.inputs import Input


def _clean_title(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = " ".join(value.split())
    if not cleaned:
        raise ValueError("title must not be blank")
    return cleaned


class ConversationCreate(Input):
    title: str | None = Field(default=None, max_length=300)

    _title = field_validator("title")(_clean_title)


class ConversationUpdate(Input):
    title: str | None = Field(default=None, max_length=300)
    is_archived: bool | None = None

    _title = field_validator("title")(_clean_title)


class Conversation(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    model: str | None
    is_archived: bool
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime


class Citation(BaseModel):
    """A source an answer drew on; `[n]` in the answer refers to it."""

    n: int
    file_id: uuid.UUID
    filename: str
    page: int | None = None
    sheet: str | None = None
    snippet: str
    # Whether the answer refers to it with `[n]` (every source given to the model is listed).
    cited: bool = False


class Message(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    conversation_id: uuid.UUID
    role: str
    content: str
    model: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    created_at: datetime
    metadata: dict[str, Any] = Field(default_factory=dict, validation_alias="extra")
    citations: list[Citation] = Field(default_factory=list)

    @field_validator("citations", mode="before")
    @classmethod
    def _no_citations(cls, value: Any) -> Any:
        return value or []


class ConversationDetail(Conversation):
    messages: list[Message]
