"""Admin analytics over HTTP: JSON for the web app and dashboards, CSV for chargeback exports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime

from parley.analytics import csv_export, service
from parley.analytics.repository import GroupBy
from parley.analytics.schemas import AnalyticsReport
from parley.auth.dependencies import AnalyticsReader
from parley.db import SessionDep
from parley.errors import problem_responses
from parley.read_session import ReadSessionDep

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

Since = Annotated[
    AwareDatetime | None, Query(alias="from", description="Start (inclusive); default: 30 days before to")
]
Until = Annotated[AwareDatetime | None, Query(alias="to", description="End (exclusive); default: now")]


@router.get(
    "/analytics",
    response_model=AnalyticsReport,
    responses=problem_responses(401, 403, 422),
    summary="Organisation analytics: activity, spend, retention, errors and latency, per day/week/model/user/…",
)
async def analytics(
    principal: AnalyticsReader,
    session: ReadSessionDep,
    audit_session: SessionDep,
    since: Since = None,
    until: Until = None,
    group_by: GroupBy = "day",
) -> AnalyticsReport:
    found = await service.report(session, since=since, until=until, group_by=group_by)
    service.audit_read(audit_session, found, admin_id=principal.user_id, group_by=group_by, export=False)
    return found


@router.get(
    "/analytics.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **problem_responses(401, 403, 422)},
    summary="The analytics series as CSV, for chargeback (e.g. group_by=cost_centre)",
)
async def analytics_csv(
    principal: AnalyticsReader,
    session: ReadSessionDep,
    audit_session: SessionDep,
    since: Since = None,
    until: Until = None,
    group_by: GroupBy = "day",
) -> Response:
    found = await service.report(session, since=since, until=until, group_by=group_by)
    service.audit_read(audit_session, found, admin_id=principal.user_id, group_by=group_by, export=True)
    return Response(
        csv_export.render(found),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="parley-analytics-{group_by}.csv"'},
    )
