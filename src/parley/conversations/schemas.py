from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

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


Rating = Literal["up", "down"]
_RATINGS: dict[int, Rating] = {1: "up", -1: "down"}


class FeedbackPut(Input):
    """A thumbs up or down on an answer; the comment (optional, typically saying what was wrong) replaces any
    earlier one."""

    rating: Rating
    comment: str | None = Field(default=None, max_length=2000)

    @field_validator("comment")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class Feedback(BaseModel):
    """The conversation owner's rating of an answer."""

    rating: Rating
    comment: str | None
    at: datetime


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

    # Read from the message's feedback columns, shown only as `feedback`.
    feedback_rating: int | None = Field(default=None, exclude=True)
    feedback_comment: str | None = Field(default=None, exclude=True)
    feedback_at: datetime | None = Field(default=None, exclude=True)

    @field_validator("citations", mode="before")
    @classmethod
    def _no_citations(cls, value: Any) -> Any:
        return value or []

    @computed_field  # type: ignore[prop-decorator]
    @property
    def feedback(self) -> Feedback | None:
        """The owner's thumbs up / down on an answer; null when not rated."""
        if self.feedback_rating is None or self.feedback_at is None:
            return None
        return Feedback(rating=_RATINGS[self.feedback_rating], comment=self.feedback_comment, at=self.feedback_at)


class ConversationDetail(Conversation):
    messages: list[Message]


class ConversationContext(BaseModel):
    """How full the conversation's context window is (as the last answer counted it) and its cost so far."""

    model: str = Field(description="The model that answered last (the default model before any answer)")
    context_window: int | None = Field(description="The model's context window in tokens; null: not configured")
    context_tokens: int = Field(description="Tokens the conversation takes in the window: last prompt and answer")
    cost_usd: float = Field(description="USD the conversation has cost so far (answers, titles, summaries)")
