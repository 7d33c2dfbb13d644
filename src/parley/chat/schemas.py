from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field, field_validator

from parley.conversations.schemas import Citation, Message
from parley.kit.inputs import Input


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must not be blank")
    return value


class GenerationOptions(Input):
    model: str | None = Field(default=None, max_length=100, description="a model alias, or `auto`")
    stream: bool = True
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=32_768)


class SourceOptions(Input):
    file_ids: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=20,
        description="files to draw on for this message (yours or shared); your images among them are shown to the "
        "model (vision models only)",
    )
    knowledge_base_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=10, description="knowledge bases to draw on for this message"
    )


class ChatCreate(GenerationOptions, SourceOptions):
    conversation_id: uuid.UUID | None = None
    message: str = Field(min_length=1, max_length=100_000)
    system_prompt: str | None = Field(default=None, max_length=20_000)

    _message = field_validator("message")(_not_blank)


class Regenerate(GenerationOptions, SourceOptions):
    """Regenerate the last answer; with `message`, the last user message is replaced by it first (edit)."""

    message: str | None = Field(default=None, min_length=1, max_length=100_000)

    _message = field_validator("message")(_not_blank)


class ChatUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class LimitNotice(BaseModel):
    """Why an answer stopped early: the quota it used up (`tokens-day`, `tokens-month`, `usd-month`,
    `group-usd-month`), a sentence for the user, and when the quota comes back."""

    limit: str
    message: str
    resets_at: str


class ChatResult(BaseModel):
    """The whole answer, for `stream: false`."""

    conversation_id: uuid.UUID
    user_message_id: uuid.UUID
    message_id: uuid.UUID
    content: str
    finish_reason: str
    model: str
    usage: ChatUsage
    cost: str
    problem: dict[str, Any] | None = None
    citations: list[Citation] = []
    limit: LimitNotice | None = Field(
        default=None, description="Set when the answer stopped (finish_reason `length`) at a used-up quota"
    )


class StopResult(BaseModel):
    message_id: uuid.UUID | None
    finish_reason: str | None
    content: str | None


class MessagePage(BaseModel):
    items: list[Message]
    next_cursor: str | None = None
