"""Reports of answers ("Report this answer"), what reviewers did about them, and the block list they feed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, Timestamps, UUIDPrimaryKey


class AnswerReport(UUIDPrimaryKey, Timestamps, Base):
    """A user's report of one answer, with the exchange it belongs to copied at report time (the question and the
    answer, sealed with the reporter's data key like message content), so reviewers see what was reported even
    after the conversation is deleted, and never the rest of the conversation. Deleted with the reporter."""

    __tablename__ = "answer_reports"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    model: Mapped[str | None] = mapped_column(String(200))
    # harmful | wrong | offensive | private_data | other
    reason: Mapped[str] = mapped_column(String(32))
    # Sealed (`parley.crypto.orm_content`): the reporter's text, and the exchange.
    comment: Mapped[str | None] = mapped_column(Text)
    question: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text, server_default="")
    # The safety detectors' scores of the answer, when they ran (issue 16's detectors; null until then).
    scores: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # open | dismissed | confirmed
    status: Mapped[str] = mapped_column(String(16), server_default="open")
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        # One open report per user and answer.
        Index(
            "uq_answer_reports_open",
            "user_id",
            "message_id",
            unique=True,
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_answer_reports_created", "created_at", "id"),
        Index("ix_answer_reports_status_created", "status", "created_at"),
    )


class ReportAction(UUIDPrimaryKey, Base):
    """One thing a reviewer did with a report (dismissed, confirmed, suspended the user, blocked a phrase, or only a
    note), oldest first: the report's history."""

    __tablename__ = "answer_report_actions"

    report_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("answer_reports.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class BlockListEntry(UUIDPrimaryKey, Base):
    """A word or phrase reviewers put on the block list. The safety policy (issue 16) reads this table; nothing
    enforces it yet. Unique regardless of case."""

    __tablename__ = "block_list_entries"

    phrase: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source_report_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("answer_reports.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index("uq_block_list_entries_phrase", text("lower(phrase)"), unique=True),)
