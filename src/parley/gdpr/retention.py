"""Retention: plans, groups and per-user overrides may set how long conversations (untouched) and uploads are
kept (`conversation_retention_days`, `file_retention_days`; the most generous of plan and groups wins, a user's
override wins over both, null keeps for ever). A periodic job deletes what is due, in small batches of short
transactions, skipping users on legal hold, and audits one `retention.delete` row per user per run with counts.

The sweep schedules its own next run (`gdpr.retention_sweep`, every `retention_interval_minutes`); start-up
makes sure one is pending, under an advisory lock so replicas starting together add only one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley import jobs
from parley.audit.service import AuditAction, record
from parley.config import GdprSettings
from parley.conversations import service as conversation_service
from parley.db import Database
from parley.files import service as files_service
from parley.gdpr import repository
from parley.gdpr.exports import ExportExpiry
from parley.jobs import outbox
from parley.kit.clock import utcnow
from parley.plans import service as plans_service
from parley.policy.plans import Plan
from parley.storage import Storage

_logger = structlog.get_logger("parley.gdpr")

SWEEP_JOB = "gdpr.retention_sweep"
_SCHEDULE_LOCK = 0x67647072  # "gdpr"
_USERS_PER_PAGE = 200


@dataclass
class UserDeletes:
    user_id: uuid.UUID
    conversations: int = 0
    files: int = 0


@dataclass
class SweepReport:
    """What one sweep did: per user with anything deleted, and users skipped for a legal hold mid-run."""

    deleted: list[UserDeletes] = field(default_factory=list)
    exports_expired: int = 0


async def schedule_sweep(session: AsyncSession, *, delay_seconds: float, running_too: bool) -> bool:
    """Enqueue the next sweep unless one is pending; True when one was added."""
    await session.execute(select(func.pg_advisory_xact_lock(_SCHEDULE_LOCK)))
    if await outbox.pending_of_kind(session, SWEEP_JOB, running_too=running_too):
        return False
    await jobs.enqueue(session, SWEEP_JOB, {}, delay_seconds=delay_seconds)
    return True


class RetentionSweep:
    """Job `gdpr.retention_sweep`: apply every user's retention, expire export zips whose expiry job was lost,
    then schedule the next run."""

    def __init__(
        self, database: Database, storage: Storage, settings: GdprSettings, *, seeds: Mapping[str, Plan]
    ) -> None:
        self.database = database
        self.settings = settings
        self.seeds = seeds
        self._expiry = ExportExpiry(database, storage)

    @property
    def interval_seconds(self) -> float:
        return self.settings.retention_interval_minutes * 60.0

    async def __call__(self, payload: dict[str, Any]) -> None:
        await self.run()
        async with self.database.session() as session:
            await schedule_sweep(session, delay_seconds=self.interval_seconds, running_too=False)

    async def give_up(self, payload: dict[str, Any], error: str) -> None:
        async with self.database.session() as session:
            await schedule_sweep(session, delay_seconds=self.interval_seconds, running_too=False)

    async def run(self) -> SweepReport:
        report = SweepReport()
        report.exports_expired = await self._expire_exports()
        if not await self._configured():
            return report
        after: uuid.UUID | None = None
        while True:
            async with self.database.session() as session:
                users = await repository.users_for_retention(session, after=after, limit=_USERS_PER_PAGE)
                due: list[tuple[uuid.UUID, int | None, int | None]] = []
                for user in users:
                    plan = (await plans_service.plan_for_user(session, user, seeds=self.seeds)).plan
                    if plan.conversation_retention_days is not None or plan.file_retention_days is not None:
                        due.append((user.id, plan.conversation_retention_days, plan.file_retention_days))
            for user_id, conversation_days, file_days in due:
                deletes = await self._apply(user_id, conversation_days, file_days)
                if deletes.conversations or deletes.files:
                    report.deleted.append(deletes)
            if len(users) < _USERS_PER_PAGE:
                break
            after = users[-1].id
        if report.deleted:
            _logger.info(
                "retention_swept",
                users=len(report.deleted),
                conversations=sum(d.conversations for d in report.deleted),
                files=sum(d.files for d in report.deleted),
            )
        return report

    async def _configured(self) -> bool:
        in_seeds = any(
            plan.conversation_retention_days is not None or plan.file_retention_days is not None
            for plan in self.seeds.values()
        )
        if in_seeds:
            return True
        async with self.database.session() as session:
            return await repository.retention_configured(session)

    async def _apply(self, user_id: uuid.UUID, conversation_days: int | None, file_days: int | None) -> UserDeletes:
        deletes = UserDeletes(user_id)
        now = utcnow()
        if conversation_days is not None:
            before = now - timedelta(days=conversation_days)
            deletes.conversations = await self._batches(user_id, before, conversation_service.delete_untouched)
        if file_days is not None:
            before = now - timedelta(days=file_days)
            deletes.files = await self._batches(user_id, before, files_service.delete_uploaded_before)
        if deletes.conversations or deletes.files:
            async with self.database.session() as session:
                record(
                    session,
                    AuditAction.RETENTION_DELETE,
                    actor_id=None,
                    target_type="user",
                    target_id=user_id,
                    details={
                        "conversations": deletes.conversations,
                        "files": deletes.files,
                        "conversation_retention_days": conversation_days,
                        "file_retention_days": file_days,
                    },
                )
        return deletes

    async def _batches(self, user_id: uuid.UUID, before: datetime, delete: Any) -> int:
        """Delete in batches of `retention_batch_size`, one short transaction each; each batch re-checks, under the
        user's row lock, that no legal hold was set (or the account erased) since the sweep looked."""
        total = 0
        size = self.settings.retention_batch_size
        while True:
            async with self.database.session() as session:
                user = await repository.lock_user(session, user_id)
                if user is None or user.legal_hold_at is not None:
                    return total
                count: int = await delete(session, user_id=user_id, before=before, limit=size)
            total += count
            if count < size:
                return total

    async def _expire_exports(self) -> int:
        async with self.database.session() as session:
            due = await repository.expired_exports(session, utcnow(), limit=500)
        for export_id in due:
            await self._expiry({"export_id": str(export_id)})
        return len(due)
