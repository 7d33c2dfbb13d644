"""`/v1/files` and `/v1/batches` in OpenAI's format (the Batch API), for the `chat` scope like the rest of /v1.

Errors come in OpenAI's shape (`openai_api.errors`); another user's file or batch is a 404, as a missing one is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import StreamingResponse

from parley.batches import service
from parley.batches.schemas import BatchCreate, FilePurpose
from parley.config import Settings
from parley.crypto.keyring import Crypto
from parley.db import SessionDep
from parley.errors import BadRequest
from parley.files.service import StoredBytes
from parley.files.upload_form import read_upload
from parley.openai_api.auth import OpenAIUser
from parley.storage import Storage

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

_UPLOAD_FIELDS = frozenset({"purpose"})


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "Invalid request, naming the parameter (for a batch's input file, its first bad line)",
        401: "Invalid API key (OpenAI error shape)",
        403: "The key lacks the `chat` scope, or the account is suspended",
        404: "No such file or batch (another user's is not found either)",
        409: "The batch is finished and can no longer be cancelled",
        413: "The file is larger than the upload limit",
        415: "Not a multipart/form-data upload",
        422: "A malformed form (OpenAI error shape)",
    }
    return {status: {"description": described[status], "content": {"application/json": {}}} for status in statuses}


async def _storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


async def _crypto(request: Request) -> Crypto:
    crypto: Crypto = request.app.state.crypto
    return crypto


StorageDep = Annotated[Storage, Depends(_storage)]
CryptoDep = Annotated[Crypto, Depends(_crypto)]


async def _stored_bytes(storage: StorageDep) -> AsyncIterator[StoredBytes]:
    """Bytes an upload stored are removed again when anything after them fails, the commit included (entered
    before the session's dependency, so left after it)."""
    stored = StoredBytes(storage)
    try:
        yield stored
    except BaseException:
        with anyio.CancelScope(shield=True):
            await stored.discard()
        raise


StoredBytesDep = Annotated[StoredBytes, Depends(_stored_bytes, scope="function")]

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "purpose"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "purpose": {"type": "string", "enum": ["batch"]},
                    },
                }
            }
        },
    }
}


@router.post(
    "/files",
    responses=_errors(400, 401, 403, 413, 415, 422),
    openapi_extra=_UPLOAD_BODY,
    summary="Upload a file for the Batch API (OpenAI format; purpose `batch`)",
)
async def upload_file(
    stored: StoredBytesDep, request: Request, principal: OpenAIUser, session: SessionDep, crypto: CryptoDep
) -> dict[str, Any]:
    """A batch's input (JSONL, one request a line), stored sealed with the caller's data key; checked line by line
    when a batch is created from it. At most `PARLEY_BATCHES__MAX_FILE_MIB` MiB."""
    settings: Settings = request.app.state.settings
    limit_mib = settings.batches.max_file_mib
    form = await read_upload(
        request,
        max_file_bytes=limit_mib << 20,
        too_large=f"file: larger than the {limit_mib} MiB limit of batch files",
        allowed_fields=_UPLOAD_FIELDS,
    )
    purpose = form.fields.get("purpose", "").strip()
    if not purpose:
        raise BadRequest("purpose is required ('batch')", param="purpose")
    return await service.add_file(
        session,
        stored,
        crypto,
        user_id=principal.user_id,
        filename=form.filename or "file.jsonl",
        purpose=purpose,
        data=form.data,
    )


@router.get("/files", responses=_errors(400, 401, 403, 404), summary="List your Batch API files (OpenAI format)")
async def list_files(
    principal: OpenAIUser,
    session: SessionDep,
    crypto: CryptoDep,
    purpose: FilePurpose | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
    after: str | None = None,
    order: Literal["asc", "desc"] = "desc",
) -> dict[str, Any]:
    return await service.list_files(
        session, crypto, user_id=principal.user_id, purpose=purpose, limit=limit, after=after, order=order
    )


@router.get("/files/{file_id}", responses=_errors(401, 403, 404), summary="A Batch API file (OpenAI format)")
async def get_file(file_id: str, principal: OpenAIUser, session: SessionDep, crypto: CryptoDep) -> dict[str, Any]:
    return await service.get_file(session, crypto, user_id=principal.user_id, public_id=file_id)


@router.get(
    "/files/{file_id}/content",
    responses={200: {"content": {"application/octet-stream": {}}}, **_errors(401, 403, 404)},
    response_class=StreamingResponse,
    summary="A Batch API file's bytes (a batch's results: JSONL)",
)
async def file_content(
    file_id: str, principal: OpenAIUser, session: SessionDep, storage: StorageDep
) -> StreamingResponse:
    chunks = await service.file_content(session, storage, user_id=principal.user_id, public_id=file_id)
    return StreamingResponse(chunks, media_type="application/octet-stream")


@router.delete("/files/{file_id}", responses=_errors(401, 403, 404), summary="Delete a Batch API file")
async def delete_file(file_id: str, principal: OpenAIUser, session: SessionDep) -> dict[str, Any]:
    return await service.delete_file(session, user_id=principal.user_id, public_id=file_id)


@router.post(
    "/batches",
    responses=_errors(400, 401, 403, 404),
    summary="Create a batch (OpenAI format): its input file's requests run in the background",
)
async def create_batch(
    body: BatchCreate,
    request: Request,
    principal: OpenAIUser,
    session: SessionDep,
    storage: StorageDep,
    crypto: CryptoDep,
) -> dict[str, Any]:
    """Every line of the input file is checked first (400 naming the first bad one); the lines then run as this
    API key, behind chat, through the same limits, quotas and usage records as one request at a time."""
    settings: Settings = request.app.state.settings
    return await service.create_batch(session, storage, crypto, principal, body, settings=settings.batches)


@router.get("/batches", responses=_errors(400, 401, 403, 404), summary="List your batches, newest first")
async def list_batches(
    principal: OpenAIUser,
    session: SessionDep,
    crypto: CryptoDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: str | None = None,
) -> dict[str, Any]:
    return await service.list_batches(session, crypto, user_id=principal.user_id, limit=limit, after=after)


@router.get("/batches/{batch_id}", responses=_errors(401, 403, 404), summary="A batch (OpenAI format)")
async def get_batch(batch_id: str, principal: OpenAIUser, session: SessionDep, crypto: CryptoDep) -> dict[str, Any]:
    return await service.get_batch(session, crypto, user_id=principal.user_id, public_id=batch_id)


@router.post(
    "/batches/{batch_id}/cancel",
    responses=_errors(401, 403, 404, 409),
    summary="Cancel a batch: it stops between two lines, keeping the results so far",
)
async def cancel_batch(batch_id: str, principal: OpenAIUser, session: SessionDep, crypto: CryptoDep) -> dict[str, Any]:
    return await service.cancel_batch(session, crypto, user_id=principal.user_id, public_id=batch_id)
