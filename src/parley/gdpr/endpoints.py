"""HTTP routes of the GDPR domain: self-service export and erasure, and the administrators' erasure and legal
hold (README, "Your data: export, erasure and retention")."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request, Response, status
from starlette.responses import StreamingResponse

from parley.auth.dependencies import AdminUser, InteractiveUser, require
from parley.auth.permissions import Permission
from parley.auth.principal import Principal
from parley.auth.security import SecurityDep, client_ip
from parley.config import GdprSettings
from parley.crypto.dependencies import CryptoDep
from parley.db import SessionDep
from parley.errors import NotFound, problem_responses
from parley.gdpr import erasure, exports, legal_holds
from parley.gdpr.schemas import AccountDeletion, ExportRead, LegalHoldUpdate
from parley.gdpr.tombstones import Tombstones
from parley.models import UserExport
from parley.storage import Storage, StorageNotFound
from parley.users.schemas import AdminUserRead
from parley.users.service import AnswerStopper

_logger = structlog.get_logger("parley.gdpr")

router = APIRouter(prefix="/api/v1/users/me", tags=["users"])
admin_router = APIRouter(prefix="/api/v1/admin/users", tags=["admin"])

# Exports hold everything about a user: a leaked API key must not be able to fetch one.
ExportReader = Annotated[Principal, Depends(require(Permission.PROFILE_READ, interactive=True))]


def _settings(request: Request) -> GdprSettings:
    settings: GdprSettings = request.app.state.settings.gdpr
    return settings


def _tombstones(request: Request) -> Tombstones:
    tombstones: Tombstones = request.app.state.tombstones
    return tombstones


def _storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


GdprSettingsDep = Annotated[GdprSettings, Depends(_settings)]
TombstonesDep = Annotated[Tombstones, Depends(_tombstones)]
StorageDep = Annotated[Storage, Depends(_storage)]


def _read(export: UserExport) -> ExportRead:
    read = ExportRead.model_validate(export)
    if export.status == "ready":
        read.download_url = f"/api/v1/users/me/exports/{export.id}/download"
    return read


@router.post(
    "/export",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExportRead,
    responses=problem_responses(401, 403, 429),
    summary="Export your data: a zip of your conversations, files, usage and profile, built in the background",
)
async def start_export(
    request: Request, principal: InteractiveUser, session: SessionDep, settings: GdprSettingsDep
) -> ExportRead:
    export = await exports.request_export(session, user_id=principal.user_id, settings=settings, ip=client_ip(request))
    return _read(export)


@router.get(
    "/exports",
    response_model=list[ExportRead],
    responses=problem_responses(401, 403),
    summary="Your recent data exports, newest first",
)
async def list_exports(principal: ExportReader, session: SessionDep) -> list[ExportRead]:
    return [_read(export) for export in await exports.list_exports(session, user_id=principal.user_id)]


@router.get(
    "/exports/{export_id}",
    response_model=ExportRead,
    responses=problem_responses(401, 403, 404, 422),
    summary="A data export's status (and, once ready, where to download it)",
)
async def read_export(export_id: uuid.UUID, principal: ExportReader, session: SessionDep) -> ExportRead:
    return _read(await exports.get_export(session, user_id=principal.user_id, export_id=export_id))


@router.get(
    "/exports/{export_id}/download",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The export's zip, as an attachment", "content": {"application/zip": {}}},
        **problem_responses(401, 403, 404, 409, 410, 422),
    },
    summary="Download a ready data export (until it expires)",
)
async def download_export(
    export_id: uuid.UUID, principal: ExportReader, session: SessionDep, storage: StorageDep
) -> StreamingResponse:
    export = await exports.downloadable(session, user_id=principal.user_id, export_id=export_id)
    assert export.storage_key is not None  # `downloadable` checked it
    chunks = storage.stream(export.storage_key)
    # The first chunk is read before the status line goes out, so a missing zip is a 404, not a cut-off 200.
    try:
        first = await anext(chunks, b"")
    except StorageNotFound as exc:
        _logger.error("user_export_missing", export_id=str(export.id))
        raise NotFound("this export is no longer stored; start a new one") from exc

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    day = export.created_at.date().isoformat()
    headers = {
        "Content-Disposition": f'attachment; filename="parley-export-{day}.zip"',
        "Cache-Control": "private, no-store",
    }
    if export.size_bytes is not None:
        headers["Content-Length"] = str(export.size_bytes)
    return StreamingResponse(body(), media_type="application/zip", headers=headers)


@router.delete(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 409, 422),
    summary="Delete your account and everything in it (asks for your password, or a fresh sign-in)",
)
async def delete_me(
    body: AccountDeletion,
    request: Request,
    principal: InteractiveUser,
    session: SessionDep,
    security: SecurityDep,
    settings: GdprSettingsDep,
    tombstones: TombstonesDep,
    crypto: CryptoDep,
) -> Response:
    await erasure.confirm_identity(
        session,
        security.passwords,
        principal,
        password=body.password,
        reauthentication_minutes=settings.reauthentication_minutes,
    )
    await erasure.erase(
        session,
        user_id=principal.user_id,
        admin=None,
        tombstones=tombstones,
        ip=client_ip(request),
        answers=_answer_stoppers(request),
        keys=crypto,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin_router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Delete a user's account and all their data (not the last admin, not under legal hold)",
)
async def delete_user(
    user_id: uuid.UUID,
    request: Request,
    principal: AdminUser,
    session: SessionDep,
    tombstones: TombstonesDep,
    crypto: CryptoDep,
) -> Response:
    await erasure.erase(
        session,
        user_id=user_id,
        admin=principal.user,
        tombstones=tombstones,
        ip=client_ip(request),
        answers=_answer_stoppers(request),
        keys=crypto,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin_router.post(
    "/{user_id}/legal-hold",
    response_model=AdminUserRead,
    responses=problem_responses(401, 403, 404, 422),
    summary="Set or lift a legal hold: while set, nothing of the user's is deleted by retention or erasure",
)
async def legal_hold(
    user_id: uuid.UUID, body: LegalHoldUpdate, request: Request, principal: AdminUser, session: SessionDep
) -> AdminUserRead:
    user = await legal_holds.set_legal_hold(
        session, admin=principal.user, user_id=user_id, hold=body.hold, reason=body.reason, ip=client_ip(request)
    )
    return AdminUserRead.model_validate(user)


def _answer_stoppers(request: Request) -> tuple[AnswerStopper, ...]:
    return (request.app.state.chat_engine, request.app.state.open_streams)
