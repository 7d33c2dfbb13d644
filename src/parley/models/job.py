from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, Timestamps, UUIDPrimaryKey


class Job(UUIDPrimaryKey, Timestamps, Base):
    """The transactional outbox: a job row is committed with the change that needs it, then a worker claims it.

    A worker claims with `FOR UPDATE SKIP LOCKED` and holds a lease (`locked_until`); a worker that dies leaves
    the lease to run out and the job is claimed again, so a crash never loses work.
    """

    __tablename__ = "jobs"

    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    # queued | running | done | failed
    status: Mapped[str] = mapped_column(String(16), server_default="queued")
    attempts: Mapped[int] = mapped_column(server_default="0")
    run_after: Mapped[datetime] = mapped_column(server_default=func.now())
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Whose work this is (an upload's owner), for fair claiming: one owner's jobs cannot hold every worker.
    # None: nobody's (housekeeping), never held back.
    owner_key: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_jobs_claimable", "run_after", postgresql_where=text("status IN ('queued', 'running')")),
        Index("ix_jobs_kind_created", "kind", "created_at"),
        Index("ix_jobs_running_owner", "owner_key", postgresql_where=text("status = 'running'")),
    )
