from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from parley.auth.dependencies import ReportsReviewer
from parley.auth.security import client_ip
from parley.conversations import service as conversation_service
from parley.conversations.auth import ConversationWrite
from parley.conversations.schemas import FeedbackPut, Message
from parley.db import SessionDep
from parley.errors import problem_responses
from parley.kit.pagination import Page
from parley.models import AnswerReport
from parley.reports import service
from parley.reports.repository import ReportFilter
from parley.reports.schemas import (
    AdminReport,
    AdminReportSummary,
    Exchange,
    Reason,
    Report,
    ReportActionCreate,
    ReportActionRead,
    ReportCreate,
    Status,
)
from parley.reports.settings import ReportSettings

router = APIRouter(prefix="/api/v1/chat/messages", tags=["feedback"])
admin_router = APIRouter(prefix="/api/v1/admin/reports", tags=["admin"])


def _settings(request: Request) -> ReportSettings:
    settings: ReportSettings = request.app.state.settings.reports
    return settings


ReportSettingsDep = Annotated[ReportSettings, Depends(_settings)]


@router.post(
    "/{message_id}/feedback",
    response_model=Message,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Rate one of your answers thumbs up or down (the same as PUT /api/v1/messages/{message_id}/feedback)",
)
async def post_feedback(
    message_id: uuid.UUID, body: FeedbackPut, principal: ConversationWrite, session: SessionDep
) -> Message:
    message = await conversation_service.set_feedback(
        session, user_id=principal.user_id, message_id=message_id, rating=body.rating, comment=body.comment
    )
    return Message.model_validate(message)


@router.post(
    "/{message_id}/report",
    status_code=status.HTTP_201_CREATED,
    response_model=Report,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Report one of your answers to the administrators (409 while an earlier report of it is open)",
)
async def report_answer(
    message_id: uuid.UUID, body: ReportCreate, request: Request, principal: ConversationWrite, session: SessionDep
) -> Report:
    report = await service.report_answer(
        session,
        user_id=principal.user_id,
        message_id=message_id,
        reason=body.reason,
        comment=body.comment,
        ip=client_ip(request),
    )
    return Report.model_validate(report)


@admin_router.get(
    "",
    response_model=Page[AdminReportSummary],
    responses=problem_responses(401, 403, 422),
    summary="The Review queue: reports of answers, newest first, filtered by status, reason, model, user and time",
)
async def list_reports(
    principal: ReportsReviewer,
    session: SessionDep,
    status: Status | None = None,
    reason: Reason | None = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    user_id: uuid.UUID | None = None,
    since: Annotated[datetime | None, Query(description="Reported at or after")] = None,
    until: Annotated[datetime | None, Query(description="Reported before")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[AdminReportSummary]:
    found = ReportFilter(status=status, reason=reason, model=model, user_id=user_id, since=since, until=until)
    rows, total = await service.list_reports(session, found, page=page, page_size=page_size)
    return Page[AdminReportSummary](
        items=[_summary(report, email) for report, email in rows], total=total, page=page, page_size=page_size
    )


@admin_router.get(
    "/{report_id}",
    response_model=AdminReport,
    responses=problem_responses(401, 403, 404, 422),
    summary="One report: the reported exchange, the detectors' scores and what reviewers did (reading is audited)",
)
async def get_report(
    report_id: uuid.UUID,
    request: Request,
    principal: ReportsReviewer,
    session: SessionDep,
    settings: ReportSettingsDep,
) -> AdminReport:
    detail = await service.read_report(
        session, report_id=report_id, reviewer_id=principal.user_id, ip=client_ip(request)
    )
    return _detail(detail, settings)


@admin_router.post(
    "/{report_id}/actions",
    response_model=AdminReport,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Dismiss or confirm a report, suspend its user, block a phrase, or add a note",
)
async def act_on_report(
    report_id: uuid.UUID,
    body: ReportActionCreate,
    request: Request,
    principal: ReportsReviewer,
    session: SessionDep,
    settings: ReportSettingsDep,
) -> AdminReport:
    detail = await service.act(
        session,
        report_id=report_id,
        reviewer=principal,
        action=body.action,
        note=body.note,
        phrase=body.phrase,
        ip=client_ip(request),
        answers=(request.app.state.chat_engine, request.app.state.open_streams),
    )
    return _detail(detail, settings)


def _summary(report: AnswerReport, email: str) -> AdminReportSummary:
    return AdminReportSummary.model_validate(
        {
            "id": report.id,
            "status": report.status,
            "reason": report.reason,
            "model": report.model,
            "user_id": report.user_id,
            "user_email": email,
            "message_id": report.message_id,
            "created_at": report.created_at,
            "resolved_at": report.resolved_at,
        }
    )


def _detail(detail: service.ReportDetail, settings: ReportSettings) -> AdminReport:
    report = detail.report
    return AdminReport(
        **_summary(report, detail.user_email).model_dump(),
        comment=report.comment,
        exchange=Exchange(question=report.question, answer=report.answer) if settings.show_exchange else None,
        scores=report.scores,
        resolved_by=report.resolved_by,
        actions=[
            ReportActionRead.model_validate(
                {
                    "id": action.id,
                    "action": action.action,
                    "note": action.note,
                    "actor_id": action.actor_id,
                    "actor_email": email,
                    "details": action.details,
                    "created_at": action.created_at,
                }
            )
            for action, email in detail.actions
        ],
    )
