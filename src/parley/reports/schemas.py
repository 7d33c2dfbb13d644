from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from parley.kit.inputs import Input

Reason = Literal["harmful", "wrong", "offensive", "private_data", "other"]
Status = Literal["open", "dismissed", "confirmed"]
ActionName = Literal["dismiss", "confirm", "suspend_user", "block_phrase", "note"]


def _blank_is_none(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


class ReportCreate(Input):
    """A report of one of your answers: why (`reason`), and optionally what is wrong in your words."""

    reason: Reason
    comment: str | None = Field(default=None, max_length=2000)

    @field_validator("comment")
    @classmethod
    def _blank_comment(cls, value: str | None) -> str | None:
        return _blank_is_none(value)


class Report(BaseModel):
    """A report as its author sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    message_id: uuid.UUID | None
    reason: Reason
    comment: str | None
    status: Status
    created_at: datetime


class AdminReportSummary(BaseModel):
    """A row of the Review queue."""

    id: uuid.UUID
    status: Status
    reason: Reason
    model: str | None
    user_id: uuid.UUID
    user_email: str
    message_id: uuid.UUID | None = Field(description="Null once the conversation was deleted (the exchange is kept)")
    created_at: datetime
    resolved_at: datetime | None


class Exchange(BaseModel):
    """The reported answer and the question it answered, as they were when reported."""

    question: str | None
    answer: str


class ReportActionRead(BaseModel):
    id: uuid.UUID
    action: ActionName
    note: str | None
    actor_id: uuid.UUID | None
    actor_email: str | None
    details: dict[str, Any]
    created_at: datetime


class AdminReport(AdminReportSummary):
    """One report for a reviewer: the exchange (unless `PARLEY_REPORTS__SHOW_EXCHANGE` is off), the detectors'
    scores when they ran, and what reviewers did so far, oldest first."""

    comment: str | None
    exchange: Exchange | None
    scores: dict[str, Any] | None = Field(description="The safety detectors' scores of the answer; null: none ran")
    resolved_by: uuid.UUID | None
    actions: list[ReportActionRead]


class ReportActionCreate(Input):
    """What a reviewer does: `dismiss` or `confirm` the report, `suspend_user` (the reporting user, whose
    conversation it was; needs `admin:users` too), `block_phrase` (adds `phrase` to the block list) or only a
    `note`. A note may go with any action."""

    action: ActionName
    note: str | None = Field(default=None, max_length=2000)
    phrase: str | None = Field(default=None, max_length=200)

    @field_validator("note", "phrase")
    @classmethod
    def _blank_text(cls, value: str | None) -> str | None:
        return _blank_is_none(value)

    @model_validator(mode="after")
    def _needed(self) -> Self:
        if self.action == "block_phrase" and self.phrase is None:
            raise ValueError("phrase: required to block a phrase")
        if self.action != "block_phrase" and self.phrase is not None:
            raise ValueError("phrase: only for block_phrase")
        if self.action == "note" and self.note is None:
            raise ValueError("note: required")
        return self
