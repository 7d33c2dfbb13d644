"""Every SQL statement of reports of answers, their actions and the block list."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, load_only

from parley.crypto import orm_content as _orm_content  # noqa: F401 (opens the sealed columns where rows load)
from parley.models import AnswerReport, BlockListEntry, ReportAction, User


@dataclass(frozen=True)
class ReportFilter:
    status: str | None = None
    reason: str | None = None
    model: str | None = None
    user_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


async def add(session: AsyncSession, report: AnswerReport) -> AnswerReport:
    session.add(report)
    await session.flush()
    await session.refresh(report)
    return report


async def open_report_of(session: AsyncSession, *, user_id: uuid.UUID, message_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(
        select(AnswerReport.id).where(
            AnswerReport.user_id == user_id, AnswerReport.message_id == message_id, AnswerReport.status == "open"
        )
    )


def _filtered(query: Select[AnswerReport, str], found: ReportFilter) -> Select[AnswerReport, str]:
    if found.status is not None:
        query = query.where(AnswerReport.status == found.status)
    if found.reason is not None:
        query = query.where(AnswerReport.reason == found.reason)
    if found.model is not None:
        query = query.where(AnswerReport.model == found.model)
    if found.user_id is not None:
        query = query.where(AnswerReport.user_id == found.user_id)
    if found.since is not None:
        query = query.where(AnswerReport.created_at >= found.since)
    if found.until is not None:
        query = query.where(AnswerReport.created_at < found.until)
    return query


async def list_page(
    session: AsyncSession, found: ReportFilter, *, offset: int, limit: int
) -> tuple[list[tuple[AnswerReport, str]], int]:
    """Reports with their reporter's email, newest first, and how many match. Only the columns a list shows are
    loaded: the sealed texts are not opened for a page of the queue."""
    listed = load_only(
        AnswerReport.id,
        AnswerReport.status,
        AnswerReport.reason,
        AnswerReport.model,
        AnswerReport.user_id,
        AnswerReport.message_id,
        AnswerReport.created_at,
        AnswerReport.resolved_at,
    )
    query = _filtered(
        select(AnswerReport, User.email).join(User, User.id == AnswerReport.user_id).options(listed), found
    )
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = await session.execute(
        query.order_by(AnswerReport.created_at.desc(), AnswerReport.id.desc()).offset(offset).limit(limit)
    )
    return [(report, email) for report, email in rows], int(total or 0)


async def get(session: AsyncSession, report_id: uuid.UUID, *, lock: bool = False) -> tuple[AnswerReport, str] | None:
    query = select(AnswerReport, User.email).join(User, User.id == AnswerReport.user_id)
    query = query.where(AnswerReport.id == report_id)
    if lock:
        query = query.with_for_update(of=AnswerReport)
    row = (await session.execute(query)).one_or_none()
    return (row[0], row[1]) if row is not None else None


async def reports_of(session: AsyncSession, user_id: uuid.UUID) -> list[AnswerReport]:
    rows = await session.scalars(
        select(AnswerReport).where(AnswerReport.user_id == user_id).order_by(AnswerReport.created_at, AnswerReport.id)
    )
    return list(rows)


async def actions_of(session: AsyncSession, report_id: uuid.UUID) -> list[tuple[ReportAction, str | None]]:
    actor = aliased(User)
    rows = await session.execute(
        select(ReportAction, actor.email)
        .outerjoin(actor, actor.id == ReportAction.actor_id)
        .where(ReportAction.report_id == report_id)
        .order_by(ReportAction.created_at, ReportAction.id)
    )
    return [(action, email) for action, email in rows]


def add_action(session: AsyncSession, action: ReportAction) -> None:
    session.add(action)


async def blocked_phrase(session: AsyncSession, phrase: str) -> BlockListEntry | None:
    return await session.scalar(select(BlockListEntry).where(func.lower(BlockListEntry.phrase) == phrase.lower()))


async def add_block_list_entry(session: AsyncSession, entry: BlockListEntry) -> BlockListEntry:
    session.add(entry)
    await session.flush()
    return entry


async def flush(session: AsyncSession, report: AnswerReport) -> AnswerReport:
    await session.flush()
    await session.refresh(report)
    return report
