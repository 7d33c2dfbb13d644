"""The Batch API's files and batches, for their owner: upload, list, read and delete files; create a batch (its
input checked line by line first), read, list and cancel batches. The lines themselves run in `tasks`."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncSession

from parley import jobs
from parley.auth.principal import Principal
from parley.batches import repository
from parley.batches.input_lines import InvalidInputFile, parse_lines
from parley.batches.schemas import (
    ACTIVE,
    BATCH_PREFIX,
    COMPLETION_WINDOWS,
    ENDPOINTS,
    FILE_PREFIX,
    BatchCreate,
    batch_object,
    cursor_list,
    file_object,
    parse_id,
)
from parley.config import BatchSettings
from parley.crypto import content as crypto_content
from parley.crypto.keyring import Crypto
from parley.errors import BadRequest, Conflict, NotFound
from parley.files.service import DELETE_BYTES_JOB, STORAGE_PREFIX, StoredBytes
from parley.kit.clock import utcnow
from parley.models import Batch, BatchFile
from parley.storage import Storage, StorageNotFound

BATCH_JOB = "batch.run"
UPLOAD_PURPOSES = ("batch",)
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512


def storage_key_for(file_id: uuid.UUID) -> str:
    """Under the uploads' prefix, so the files domain's deletion job removes these bytes too."""
    return f"{STORAGE_PREFIX}batch-{file_id}"


def _filename_context(file_id: uuid.UUID) -> str:
    return f"batch_files.filename.{file_id}"


def _metadata_context(batch_id: uuid.UUID) -> str:
    return f"batches.metadata.{batch_id}"


# -- files ----------------------------------------------------------------------------------------------------


async def add_file(
    session: AsyncSession,
    stored: StoredBytes,
    crypto: Crypto,
    *,
    user_id: uuid.UUID,
    filename: str,
    purpose: str,
    data: bytes,
) -> dict[str, Any]:
    """Store a file's bytes (sealed with the owner's data key) and record it; the caller's unit of work discards
    `stored` if it does not commit. Its OpenAI `file` object."""
    if purpose not in UPLOAD_PURPOSES:
        raise BadRequest(
            f"purpose '{purpose[:40]}' is not available here; Parley's /v1/files takes purpose 'batch' only",
            param="purpose",
        )
    row = await _store(session, stored, crypto, user_id=user_id, filename=filename, purpose=purpose, data=data)
    return file_object(row, filename)


async def _store(
    session: AsyncSession,
    stored: StoredBytes,
    crypto: Crypto,
    *,
    user_id: uuid.UUID,
    filename: str,
    purpose: str,
    data: bytes,
) -> BatchFile:
    row_id = uuid.uuid4()
    key = storage_key_for(row_id)
    await stored.put(key, data, content_type="application/jsonl", owner=user_id)
    row = BatchFile(
        id=row_id,
        user_id=user_id,
        purpose=purpose,
        filename_sealed=await crypto.seal_text(user_id, filename[:255], context=_filename_context(row_id)),
        size_bytes=len(data),
        storage_key=key,
    )
    await repository.add(session, row)
    return row


async def _filename(crypto: Crypto, row: BatchFile) -> str:
    return await crypto.open_text(row.user_id, row.filename_sealed, context=_filename_context(row.id))


async def _owned_file(
    session: AsyncSession, *, user_id: uuid.UUID, public_id: str, param: str | None = None
) -> BatchFile:
    row_id = parse_id(public_id, FILE_PREFIX)
    row = await repository.file_of(session, user_id=user_id, file_id=row_id) if row_id is not None else None
    if row is None:
        raise NotFound(f"No such File object: {public_id[:80]}", param=param)
    return row


async def get_file(session: AsyncSession, crypto: Crypto, *, user_id: uuid.UUID, public_id: str) -> dict[str, Any]:
    row = await _owned_file(session, user_id=user_id, public_id=public_id)
    return file_object(row, await _filename(crypto, row))


async def list_files(
    session: AsyncSession,
    crypto: Crypto,
    *,
    user_id: uuid.UUID,
    purpose: str | None,
    limit: int,
    after: str | None,
    order: str,
) -> dict[str, Any]:
    """The caller's files, newest first (`order=desc`, OpenAI's default) or oldest first, after the id `after`."""
    anchor = await _owned_file(session, user_id=user_id, public_id=after, param="after") if after else None
    rows = await repository.files_of(
        session, user_id=user_id, purpose=purpose, after=anchor, newest_first=order == "desc", limit=limit + 1
    )
    data = [file_object(row, await _filename(crypto, row)) for row in rows[:limit]]
    return cursor_list(data, has_more=len(rows) > limit)


async def file_content(
    session: AsyncSession, storage: Storage, *, user_id: uuid.UUID, public_id: str
) -> AsyncIterator[bytes]:
    """The file's bytes, streamed from the storage layer; the first chunk is read here, so a missing object is a
    404 before the response starts."""
    row = await _owned_file(session, user_id=user_id, public_id=public_id)
    chunks = storage.stream(row.storage_key)
    try:
        first = await anext(chunks, b"")
    except StorageNotFound as exc:
        raise NotFound(f"the content of {public_id[:80]} is no longer stored") from exc

    async def rest() -> AsyncIterator[bytes]:
        try:
            if first:
                yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    return rest()


async def delete_file(session: AsyncSession, *, user_id: uuid.UUID, public_id: str) -> dict[str, Any]:
    """Remove the caller's file; its bytes go by a job committed with the deletion. A batch that still needs it
    as its input fails when it next reads it."""
    row = await _owned_file(session, user_id=user_id, public_id=public_id)
    await repository.remove_file(session, row)
    await jobs.enqueue(session, DELETE_BYTES_JOB, {"storage_key": row.storage_key})
    return {"id": public_id, "object": "file", "deleted": True}


async def delete_all_of(session: AsyncSession, *, user_id: uuid.UUID) -> int:
    """The stored bytes of every Batch API file of a user (account erasure), removed by jobs committed with it;
    the rows go with the account. How many."""
    keys = await repository.storage_keys_of(session, user_id)
    for key in keys:
        await jobs.enqueue(session, DELETE_BYTES_JOB, {"storage_key": key})
    return len(keys)


@dataclass(frozen=True)
class ExportedFile:
    """A Batch API file for the user's data export: its object and where its bytes are."""

    document: dict[str, Any]
    storage_key: str


async def exported_files(session: AsyncSession, *, user_id: uuid.UUID) -> list[ExportedFile]:
    """Every Batch API file of a user, oldest first, for their data export (which holds no `Crypto` of its own:
    the process's, as the ORM opens sealed names with)."""
    crypto = crypto_content.active()
    exported = []
    for row in await repository.all_files_of(session, user_id):
        filename = await _filename(crypto, row) if crypto is not None else ""
        exported.append(ExportedFile(file_object(row, filename), row.storage_key))
    return exported


# -- batches --------------------------------------------------------------------------------------------------


def _check_metadata(metadata: dict[str, str] | None) -> None:
    for key, value in (metadata or {}).items():
        if len(key) > MAX_METADATA_KEY or len(value) > MAX_METADATA_VALUE:
            raise BadRequest(
                f"metadata keys are at most {MAX_METADATA_KEY} characters and values at most {MAX_METADATA_VALUE}",
                param="metadata",
            )


async def create_batch(
    session: AsyncSession,
    storage: Storage,
    crypto: Crypto,
    principal: Principal,
    body: BatchCreate,
    *,
    settings: BatchSettings,
) -> dict[str, Any]:
    """Check the request and every line of its input file (400 naming the first bad line), record the batch and
    queue its job (owned by the user: one user's batches never hold every worker)."""
    if body.endpoint not in ENDPOINTS:
        raise BadRequest(f"endpoint must be one of {', '.join(ENDPOINTS)}", param="endpoint")
    if body.completion_window not in COMPLETION_WINDOWS:
        raise BadRequest("completion_window must be '24h'", param="completion_window")
    _check_metadata(body.metadata)
    user_id = principal.user_id
    source = await _owned_file(session, user_id=user_id, public_id=body.input_file_id, param="input_file_id")
    if source.purpose != "batch":
        raise BadRequest("the input file must have been uploaded with purpose 'batch'", param="input_file_id")
    try:
        data = await storage.get(source.storage_key)
    except StorageNotFound as exc:
        raise InvalidInputFile("its content is no longer stored") from exc
    lines = await anyio.to_thread.run_sync(
        lambda: parse_lines(data, endpoint=body.endpoint, max_lines=settings.max_lines)
    )
    row_id = uuid.uuid4()
    metadata = body.metadata
    row = Batch(
        id=row_id,
        user_id=user_id,
        api_key_id=principal.api_key_id,
        endpoint=body.endpoint,
        completion_window=body.completion_window,
        input_file_id=source.id,
        status="validating",
        metadata_sealed=(
            await crypto.seal_text(user_id, json.dumps(metadata), context=_metadata_context(row_id))
            if metadata is not None
            else None
        ),
        total_lines=len(lines),
        expires_at=utcnow() + timedelta(hours=24),
    )
    await repository.add(session, row)
    await jobs.enqueue(session, BATCH_JOB, {"batch_id": str(row_id)}, owner=str(user_id))
    return batch_object(row, metadata)


async def _metadata(crypto: Crypto, row: Batch) -> dict[str, str] | None:
    if row.metadata_sealed is None:
        return None
    opened: dict[str, str] = json.loads(
        await crypto.open_text(row.user_id, row.metadata_sealed, context=_metadata_context(row.id))
    )
    return opened


async def _owned_batch(
    session: AsyncSession, *, user_id: uuid.UUID, public_id: str, for_update: bool = False, param: str | None = None
) -> Batch:
    row_id = parse_id(public_id, BATCH_PREFIX)
    row = (
        await repository.batch_of(session, user_id=user_id, batch_id=row_id, for_update=for_update)
        if row_id is not None
        else None
    )
    if row is None:
        raise NotFound(f"No such Batch object: {public_id[:80]}", param=param)
    return row


async def get_batch(session: AsyncSession, crypto: Crypto, *, user_id: uuid.UUID, public_id: str) -> dict[str, Any]:
    row = await _owned_batch(session, user_id=user_id, public_id=public_id)
    return batch_object(row, await _metadata(crypto, row))


async def list_batches(
    session: AsyncSession, crypto: Crypto, *, user_id: uuid.UUID, limit: int, after: str | None
) -> dict[str, Any]:
    """The caller's batches, newest first, after the id `after`."""
    anchor = await _owned_batch(session, user_id=user_id, public_id=after, param="after") if after else None
    rows = await repository.batches_of(session, user_id=user_id, after=anchor, limit=limit + 1)
    data = [batch_object(row, await _metadata(crypto, row)) for row in rows[:limit]]
    return cursor_list(data, has_more=len(rows) > limit)


async def cancel_batch(session: AsyncSession, crypto: Crypto, *, user_id: uuid.UUID, public_id: str) -> dict[str, Any]:
    """Ask a running batch to stop: `cancelling` now, `cancelled` once its job has stopped between two lines
    and written the results of the lines that ran. A finished batch cannot be cancelled (409)."""
    row = await _owned_batch(session, user_id=user_id, public_id=public_id, for_update=True)
    if row.status in ("validating", "in_progress"):
        # The batch's job (there is always one while it is active) stops at its next line.
        row.status, row.cancelling_at = "cancelling", utcnow()
        await session.flush()
    elif row.status not in ACTIVE:
        raise Conflict(f"the batch is {row.status} and can no longer be cancelled")
    return batch_object(row, await _metadata(crypto, row))


async def store_result_file(
    session: AsyncSession,
    storage: Storage,
    crypto: Crypto,
    *,
    user_id: uuid.UUID,
    filename: str,
    data: bytes,
) -> uuid.UUID:
    """A batch's output or error file, as a `/v1/files` file of purpose `batch_output` (for its job)."""
    stored = StoredBytes(storage)
    try:
        row = await _store(
            session, stored, crypto, user_id=user_id, filename=filename, purpose="batch_output", data=data
        )
    except BaseException:
        await stored.discard()
        raise
    return row.id
