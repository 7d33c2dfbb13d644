"""Reports of answers: a user reports one of their answers (a reason from a list, optional text); reviewers
(`admin:reports`) work through the Review queue: read the reported exchange, dismiss or confirm the report, suspend
the user, put a word or phrase on the block list, write notes. Everything is audited; a new report is a
`report.created` event in the outbox (for webhooks), in the same transaction.

What a reviewer sees of the conversation is the reported exchange only (the question and the answer, copied when
reported and sealed with the reporter's data key): reporting is the user's consent to show that exchange, and no
more. `PARLEY_REPORTS__SHOW_EXCHANGE=false` hides even that."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parley import events
from parley.audit.service import AuditAction, record
from parley.auth.permissions import Permission
from parley.auth.principal import Principal
from parley.conversations import service as conversation_service
from parley.errors import Conflict, Forbidden, NotFound
from parley.kit.clock import utcnow
from parley.models import AnswerReport, BlockListEntry, ReportAction
from parley.reports import repository
from parley.reports.repository import ReportFilter
from parley.users import service as users_service
from parley.users.service import AnswerStopper

REPORT_CREATED = "report.created"
_DECISIONS = {"dismiss": "dismissed", "confirm": "confirmed"}
_AUDITED = {
    "dismiss": AuditAction.REPORT_DISMISS,
    "confirm": AuditAction.REPORT_CONFIRM,
    "suspend_user": AuditAction.REPORT_SUSPEND_USER,
    "block_phrase": AuditAction.REPORT_BLOCK_PHRASE,
    "note": AuditAction.REPORT_NOTE,
}


@dataclass(frozen=True)
class ReportDetail:
    report: AnswerReport
    user_email: str
    actions: list[tuple[ReportAction, str | None]]


async def report_answer(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    message_id: uuid.UUID,
    reason: str,
    comment: str | None,
    ip: str | None,
) -> AnswerReport:
    """Report one of the user's finished answers. A second report of the same answer while the first is open is
    a 409 (the first one stands; once it is decided the answer can be reported again)."""
    answer, question = await conversation_service.finished_exchange(session, user_id=user_id, message_id=message_id)
    if await repository.open_report_of(session, user_id=user_id, message_id=message_id) is not None:
        raise Conflict("you already reported this answer; it is waiting for review")
    report = AnswerReport(
        id=uuid.uuid4(),
        user_id=user_id,
        message_id=answer.id,
        model=answer.model,
        reason=reason,
        comment=comment,
        question=question.content if question is not None else None,
        answer=answer.content,
        scores=None,
        status="open",
    )
    try:
        async with session.begin_nested():
            report = await repository.add(session, report)
    except IntegrityError as exc:  # the same report sent twice at once
        raise Conflict("you already reported this answer; it is waiting for review") from exc
    record(
        session,
        AuditAction.REPORT_CREATE,
        actor_id=user_id,
        target_type="report",
        target_id=report.id,
        ip=ip,
        details={"reason": reason, "model": answer.model, "message_id": str(answer.id)},
    )
    # No text in the event: webhooks hear that a report exists, reviewers read it in Parley.
    await events.emit(
        session,
        REPORT_CREATED,
        {
            "report_id": str(report.id),
            "message_id": str(answer.id),
            "user_id": str(user_id),
            "reason": reason,
            "model": answer.model,
        },
    )
    return report


async def list_reports(
    session: AsyncSession, found: ReportFilter, *, page: int, page_size: int
) -> tuple[list[tuple[AnswerReport, str]], int]:
    """A page of the Review queue, newest first."""
    return await repository.list_page(session, found, offset=(page - 1) * page_size, limit=page_size)


async def reports_of(session: AsyncSession, user_id: uuid.UUID) -> list[AnswerReport]:
    """Every report a user made, oldest first (their data export)."""
    return await repository.reports_of(session, user_id)


async def _detail(session: AsyncSession, report_id: uuid.UUID, *, lock: bool = False) -> ReportDetail:
    found = await repository.get(session, report_id, lock=lock)
    if found is None:
        raise NotFound("report not found")
    report, email = found
    return ReportDetail(report, email, await repository.actions_of(session, report.id))


async def read_report(
    session: AsyncSession, *, report_id: uuid.UUID, reviewer_id: uuid.UUID, ip: str | None
) -> ReportDetail:
    """One report for a reviewer. Reading it is reading another user's data: audited."""
    detail = await _detail(session, report_id)
    record(session, AuditAction.REPORT_READ, actor_id=reviewer_id, target_type="report", target_id=report_id, ip=ip)
    return detail


async def act(
    session: AsyncSession,
    *,
    report_id: uuid.UUID,
    reviewer: Principal,
    action: str,
    note: str | None,
    phrase: str | None,
    ip: str | None,
    answers: Sequence[AnswerStopper] = (),
) -> ReportDetail:
    """Do `action` with a report, with an optional note (README, "Reports and review"):

    - `dismiss` / `confirm` decide the report (a decided one can be decided the other way; the same way is a 409);
    - `suspend_user` suspends the reporting user's account as the admin Users page does (needs `admin:users`);
    - `block_phrase` adds `phrase` to the block list (already there, case aside: the entry stays as it was);
    - `note` only writes the note.
    Each is a row of the report's history and an audit event (whether a note was written, not its text).
    """
    found = await repository.get(session, report_id, lock=True)
    if found is None:
        raise NotFound("report not found")
    report = found[0]
    details: dict[str, str | bool] = {}
    if action in _DECISIONS:
        status = _DECISIONS[action]
        if report.status == status:
            raise Conflict(f"the report is already {status}")
        details["from"] = report.status
        report.status = status
        report.resolved_at = utcnow()
        report.resolved_by = reviewer.user_id
    elif action == "suspend_user":
        if Permission.ADMIN_USERS not in reviewer.permissions:
            raise Forbidden("suspending a user needs the admin:users permission")
        await users_service.set_active(
            session, admin=reviewer.user, user_id=report.user_id, active=False, ip=ip, answers=answers
        )
    elif action == "block_phrase" and phrase is not None:
        details["phrase"] = phrase
        if await repository.blocked_phrase(session, phrase) is None:
            entry = BlockListEntry(phrase=phrase, created_by=reviewer.user_id, source_report_id=report.id)
            await repository.add_block_list_entry(session, entry)
        else:
            details["already_listed"] = True
    repository.add_action(
        session,
        ReportAction(
            report_id=report.id,
            actor_id=reviewer.user_id,
            action=action,
            note=note,
            details=details,
            created_at=utcnow(),
        ),
    )
    record(
        session,
        _AUDITED[action],
        actor_id=reviewer.user_id,
        target_type="report",
        target_id=report.id,
        ip=ip,
        details={**details, "user_id": str(report.user_id), "note": note is not None},
    )
    await repository.flush(session, report)
    return await _detail(session, report_id)
