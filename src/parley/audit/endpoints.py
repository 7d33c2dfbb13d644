from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime
from starlette.responses import StreamingResponse

from parley.audit import service
from parley.audit.schemas import AuditEventRead, ChainProblem, ChainVerification
from parley.auth.dependencies import AuditReader
from parley.db import Database, SessionDep
from parley.errors import Unprocessable, problem_responses
from parley.kit.pagination import Page
from parley.models import AuditEvent

router = APIRouter(prefix="/api/v1/admin/audit-events", tags=["admin"])

NDJSON = "application/x-ndjson"


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


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {"description": "One audit event per line (JSON Lines), oldest first", "content": {NDJSON: {}}},
        **problem_responses(401, 403, 422),
    },
    summary="Export the audit trail for a SIEM (JSON Lines, streamed)",
)
async def export_audit_events(
    principal: AuditReader,
    request: Request,
    session: SessionDep,
    action: Annotated[list[str] | None, Query(max_length=50)] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    actor_id: uuid.UUID | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> StreamingResponse:
    if since is not None and until is not None and since >= until:
        raise Unprocessable("`since` must be before `until`")
    if any(len(a) > 64 for a in action or ()):
        raise Unprocessable("an `action` is at most 64 characters")
    filters = {"action": action, "target_type": target_type, "actor_id": actor_id, "since": since, "until": until}
    # Who exported which part of the trail is itself recorded (committed before the first line goes out).
    service.record_export(session, actor_id=principal.user_id, filters=filters)
    database: Database = request.app.state.database

    async def lines() -> AsyncIterator[bytes]:
        # A session of its own, held for as long as the client reads (the request's ends with the handler).
        async with database.session() as session:
            events = service.stream_events(
                session, actions=action or (), target_type=target_type, actor_id=actor_id, since=since, until=until
            )
            async for event in events:
                yield _json_line(event)

    stamp = f"{since.date().isoformat() if since else 'start'}-{until.date().isoformat() if until else 'now'}"
    return StreamingResponse(
        lines(),
        media_type=NDJSON,
        headers={
            "Content-Disposition": f'attachment; filename="parley-audit-{stamp}.jsonl"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/verification",
    response_model=ChainVerification,
    responses=problem_responses(401, 403),
    summary="Walk the audit hash chain and its signed checkpoints; the first edited, deleted or reordered row",
)
async def verify_audit_chain(principal: AuditReader, request: Request, session: SessionDep) -> ChainVerification:
    settings = request.app.state.settings
    trusted = [request.app.state.audit_signer.public_key, *settings.audit.trusted_public_keys]
    verdict = await service.verify_chain(session, trusted_public_keys=trusted)
    problem = verdict.problem
    return ChainVerification(
        status="verified" if problem is None else "broken",
        summary=verdict.summary(),
        rows=verdict.rows,
        head_seq=verdict.head_seq,
        checkpoints=verdict.checkpoints,
        verified_checkpoint_seq=verdict.verified_checkpoint_seq,
        verified_checkpoint_at=verdict.verified_checkpoint_at,
        problem=ChainProblem(kind=problem.kind, seq=problem.seq, event_id=problem.event_id, message=problem.message)
        if problem is not None
        else None,
    )


def _json_line(event: AuditEvent) -> bytes:
    record = {
        "id": str(event.id),
        "seq": event.seq,
        "created_at": event.created_at.isoformat(),
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "ip": event.ip,
        "details": event.details,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str).encode() + b"\n"
