from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from parley.audit import service
from parley.audit.schemas import AuditEventRead
from parley.auth.dependencies import AuditReader
from parley.db import SessionDep
from parley.errors import problem_responses
from parley.kit.pagination import Page

router = APIRouter(prefix="/api/v1/admin/audit-events", tags=["admin"])


@router.get(
    "",
    response_model=Page[AuditEventRead],
    responses=problem_responses(401, 403, 422),
    summary="The audit trail, newest first",
)
async def list_audit_events(
    principal: AuditReader,
    session: SessionDep,
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: uuid.UUID | None = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[AuditEventRead]:
    events, total = await service.list_events(
        session,
        action=action,
        actor_id=actor_id,
        target_id=target_id,
        since=since,
        until=until,
        page=page,
        page_size=page_size,
    )
    return Page[AuditEventRead](
        items=[AuditEventRead.model_validate(e) for e in events], total=total, page=page, page_size=page_size
    )
