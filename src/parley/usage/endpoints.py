from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel

from parley.auth.dependencies import ProfileReader
from parley.db import SessionDep
from parley.errors import problem_responses
from parley.usage import service

router = APIRouter(prefix="/api/v1/users/me", tags=["usage"])


class UsagePointRead(BaseModel):
    key: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: Decimal
    requests: int


class UsageReportRead(BaseModel):
    since: datetime
    until: datetime
    group_by: str
    total: UsagePointRead
    series: list[UsagePointRead]


def _point(point: service.UsagePoint) -> UsagePointRead:
    return UsagePointRead(
        key=point.key,
        prompt_tokens=point.prompt_tokens,
        completion_tokens=point.completion_tokens,
        total_tokens=point.prompt_tokens + point.completion_tokens,
        cost_usd=point.cost_usd,
        requests=point.requests,
    )


@router.get(
    "/usage",
    response_model=UsageReportRead,
    responses=problem_responses(401, 403, 422),
    summary="Your tokens and cost, in total and per day or per model",
)
async def my_usage(
    principal: ProfileReader,
    session: SessionDep,
    since: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    until: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    group_by: Literal["day", "model"] = "day",
) -> UsageReportRead:
    found = await service.report(session, user_id=principal.user_id, since=since, until=until, group_by=group_by)
    return UsageReportRead(
        since=found.since,
        until=found.until,
        group_by=found.group_by,
        total=_point(found.total),
        series=[_point(p) for p in found.series],
    )
