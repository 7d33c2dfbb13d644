from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
import structlog
from fastapi import APIRouter, Depends, Query, Request, Response, status
from starlette.responses import StreamingResponse

from parley.config import Settings
from parley.db import SessionDep
from parley.errors import NotFound, Unprocessable, problem_responses
from parley.files import service
from parley.files.auth import FileRead, FileWrite
from parley.files.names import content_disposition
from parley.files.schemas import FileStatus, UploadedFile
from parley.files.upload_form import read_upload
from parley.kit.pagination import CursorPage
from parley.plans import service as plans_service
from parley.plans.dependencies import SeededPlans
from parley.policy.plans import max_upload_bytes
from parley.storage import Storage, StorageNotFound

router = APIRouter(prefix="/api/v1", tags=["files"])
_logger = structlog.get_logger("parley.files")
_UPLOAD_FIELDS = frozenset({"conversation_id", "knowledge_base_id"})
# A plan without an upload limit (`max_upload_mib: null`): bounded only by what one request can carry.
_NO_PLAN_LIMIT = 1 << 40


async def _storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


StorageDep = Annotated[Storage, Depends(_storage)]


async def _stored_bytes(storage: StorageDep) -> AsyncIterator[service.StoredBytes]:
    """Bytes an upload stored are removed again when anything after them fails, the commit included: this
    dependency is entered before the session's, so it is left after the session has committed or not."""
    stored = service.StoredBytes(storage)
    try:
        yield stored
    except BaseException:
        with anyio.CancelScope(shield=True):
            await stored.discard()
        raise


StoredBytesDep = Annotated[service.StoredBytes, Depends(_stored_bytes, scope="function")]

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "conversation_id": {"type": "string", "format": "uuid"},
                        "knowledge_base_id": {"type": "string", "format": "uuid"},
                    },
                }
            }
        },
    }
}


def _optional_uuid(fields: dict[str, str], name: str) -> uuid.UUID | None:
    value = fields.get(name, "").strip()
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise Unprocessable(f"{name}: not a valid UUID") from exc


@router.post(
    "/chat/upload",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadedFile,
    responses=problem_responses(401, 403, 404, 413, 415, 422),
    openapi_extra=_UPLOAD_BODY,
    summary="Upload a document (PDF, Word, Excel, PowerPoint, text, Markdown, CSV, HTML, JSON, code) or an image",
)
async def upload_file(
    stored: StoredBytesDep, request: Request, principal: FileWrite, session: SessionDep, seeds: SeededPlans
) -> UploadedFile:
    settings: Settings = request.app.state.settings
    named = await plans_service.plan_for_user(session, principal.user, seeds=seeds)
    limit = max_upload_bytes(named.plan)
    form = await read_upload(
        request,
        # No limit in the plan: the largest body anything could send.
        max_file_bytes=limit if limit is not None else _NO_PLAN_LIMIT,
        too_large=f"file: larger than the {named.plan.max_upload_mib} MiB upload limit of the {named.name} plan",
        allowed_fields=_UPLOAD_FIELDS,
    )
    file = await service.upload(
        session,
        stored,
        user_id=principal.user_id,
        role=principal.user.role,
        filename=form.filename,
        data=form.data,
        settings=settings.files,
        conversation_id=_optional_uuid(form.fields, "conversation_id"),
        knowledge_base_id=_optional_uuid(form.fields, "knowledge_base_id"),
        images=settings.images,
    )
    return UploadedFile.model_validate(file)


@router.get(
    "/files",
    response_model=CursorPage[UploadedFile],
    responses=problem_responses(401, 403, 422),
    summary="Your files, newest first",
)
async def list_files(
    principal: FileRead,
    session: SessionDep,
    conversation_id: Annotated[uuid.UUID | None, Query(description="Only files uploaded to this conversation")] = None,
    file_status: Annotated[FileStatus | None, Query(alias="status")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
) -> CursorPage[UploadedFile]:
    found = await service.list_for(
        session,
        user_id=principal.user_id,
        conversation_id=conversation_id,
        status=file_status,
        cursor=cursor,
        limit=limit,
    )
    return CursorPage[UploadedFile](
        items=[UploadedFile.model_validate(f) for f in found.items], next_cursor=found.next_cursor
    )


@router.get(
    "/files/{file_id}",
    response_model=UploadedFile,
    responses=problem_responses(401, 403, 404, 422),
    summary="A file and its processing status",
)
async def read_file(file_id: uuid.UUID, principal: FileRead, session: SessionDep) -> UploadedFile:
    file = await service.get_readable(session, user_id=principal.user_id, role=principal.user.role, file_id=file_id)
    return UploadedFile.model_validate(file)


@router.get(
    "/files/{file_id}/content",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The file's bytes, as an attachment", "content": {"application/octet-stream": {}}},
        **problem_responses(401, 403, 404, 422),
    },
    summary="Download a file",
)
async def download_file(
    file_id: uuid.UUID, principal: FileRead, session: SessionDep, storage: StorageDep
) -> StreamingResponse:
    file = await service.get_readable(session, user_id=principal.user_id, role=principal.user.role, file_id=file_id)
    chunks = storage.stream(file.storage_key)
    # The first chunk is read before the status line goes out, so missing bytes are a 404, not a cut-off 200.
    try:
        first = await anext(chunks, b"")
    except StorageNotFound as exc:
        _logger.error("file_bytes_missing", file_id=str(file.id), storage_key=file.storage_key)
        raise NotFound("the content of this file is no longer stored") from exc

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    # X-Content-Type-Options: nosniff comes with every response (RequestContextMiddleware).
    return StreamingResponse(
        body(),
        media_type=file.mime_type,
        headers={
            "Content-Disposition": content_disposition(file.filename),
            "Content-Length": str(file.file_size),
            # Even if opened in a tab, an uploaded HTML file runs no script and reaches no Parley cookie.
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "private, no-store",
        },
    )


@router.delete(
    "/files/{file_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
    summary="Delete a file, its extracted text and its stored bytes",
)
async def delete_file(file_id: uuid.UUID, principal: FileWrite, session: SessionDep) -> Response:
    await service.delete(session, user_id=principal.user_id, file_id=file_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
