"""Files: a user's uploads. An upload is checked (size, real type, archive bombs), stored, recorded and
queued for ingestion in one unit of work; a refused or failed upload leaves no row and no stored bytes."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import anyio.to_thread
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from parley import jobs
from parley.audit import service as audit_service
from parley.audit.service import AuditAction
from parley.config import FileSettings, ImageSettings
from parley.conversations import service as conversation_service
from parley.errors import BadRequest, NotFound, PayloadTooLarge
from parley.files import repository
from parley.files.inspection import IMAGE, Detected, inspect_upload
from parley.files.names import sanitize_filename
from parley.kit.pagination import decode_cursor, encode_cursor
from parley.knowledge_bases import service as knowledge_base_service
from parley.models import File
from parley.storage import Storage, StorageError

_logger = structlog.get_logger("parley.files")

INGEST_JOB = "ingest_file"
DELETE_BYTES_JOB = "delete_stored_file"
STORAGE_PREFIX = "uploads/"


def storage_key_for(file_id: uuid.UUID) -> str:
    """Where a file's bytes live: from its id alone, never from anything the user typed."""
    return f"{STORAGE_PREFIX}{file_id}"


@dataclass
class StoredBytes:
    """Keys written during one request: removed again unless the request's unit of work commits."""

    storage: Storage
    keys: list[str] = field(default_factory=list)

    async def put(self, key: str, data: bytes, *, content_type: str, owner: uuid.UUID | None = None) -> None:
        """Store `data`, sealed with `owner`'s data key (README, "Encryption at rest")."""
        self.keys.append(key)
        await self.storage.put(key, data, content_type=content_type, owner=owner)

    async def discard(self) -> None:
        for key in self.keys:
            try:
                await self.storage.delete(key)
            except StorageError as exc:  # logged: the bytes are orphaned, but the refusal still stands
                _logger.error("upload_bytes_not_removed", storage_key=key, error=str(exc))
        self.keys.clear()


@dataclass(frozen=True)
class FileSlice:
    items: list[File]
    next_cursor: str | None


async def upload(
    session: AsyncSession,
    stored: StoredBytes,
    *,
    user_id: uuid.UUID,
    role: str,
    filename: str,
    data: bytes,
    settings: FileSettings,
    conversation_id: uuid.UUID | None = None,
    knowledge_base_id: uuid.UUID | None = None,
    images: ImageSettings | None = None,
) -> File:
    """Check, store and record one upload and queue its ingestion. The caller's unit of work must discard
    `stored` if it does not commit. An image (README, "Images") is stored the same way but not read: it is
    ready at once, in no conversation's documents, for a chat message to show to a vision model."""
    if conversation_id is not None:
        await conversation_service.get(session, user_id=user_id, conversation_id=conversation_id)
    if knowledge_base_id is not None:
        await knowledge_base_service.require_writable(
            session, user_id=user_id, role=role, knowledge_base_id=knowledge_base_id
        )
    name = sanitize_filename(filename)
    detected, sha256 = await anyio.to_thread.run_sync(_inspect_and_hash, data, name, settings)
    image = detected.file_type == IMAGE
    if image:
        max_bytes = (images or ImageSettings()).max_bytes
        if len(data) > max_bytes:
            raise PayloadTooLarge(f"file: images may be at most {max_bytes} bytes (images.max_bytes)")
        if knowledge_base_id is not None:
            raise BadRequest("file: images cannot be added to a knowledge base (send them in a chat message)")
        # Not a document of the conversation: its answers are not grounded on it.
        conversation_id = None

    file_id = uuid.uuid4()
    key = storage_key_for(file_id)
    await stored.put(key, data, content_type=detected.mime_type, owner=user_id)
    file = await repository.add(
        session,
        File(
            id=file_id,
            user_id=user_id,
            conversation_id=conversation_id,
            filename=name,
            file_type=detected.file_type,
            mime_type=detected.mime_type,
            file_size=len(data),
            storage_key=key,
            sha256=sha256,
            status="ready" if image else "pending",
        ),
    )
    if knowledge_base_id is not None:
        await knowledge_base_service.add_file(
            session, user_id=user_id, role=role, knowledge_base_id=knowledge_base_id, file_id=file_id
        )
    if image:
        return file
    # Owned by the uploader: one user's uploads are read one (or a few) at a time, never all workers at once.
    await jobs.enqueue(session, INGEST_JOB, {"file_id": str(file_id)}, owner=str(user_id))
    return file


def _inspect_and_hash(data: bytes, filename: str, settings: FileSettings) -> tuple[Detected, str]:
    return inspect_upload(data, filename, settings), hashlib.sha256(data).hexdigest()


async def get_readable(session: AsyncSession, *, user_id: uuid.UUID, role: str, file_id: uuid.UUID) -> File:
    """A file the caller may read; anyone else's is indistinguishable from a missing one."""
    file = await repository.get_readable(session, user_id=user_id, role=role, file_id=file_id)
    if file is None:
        raise NotFound("file not found")
    if file.user_id != user_id:
        # Read through a knowledge-base share: audited, with whose file it is (README, "Audit trail").
        audit_service.record(
            session,
            AuditAction.FILE_ACCESS_BY_OTHER,
            actor_id=user_id,
            target_type="file",
            target_id=file.id,
            details={"owner_id": str(file.user_id)},
        )
    return file


async def own_images(session: AsyncSession, *, user_id: uuid.UUID, file_ids: Sequence[uuid.UUID]) -> list[File]:
    """Of `file_ids`, the user's own image files: what a chat message shows a vision model."""
    return await repository.own_images(session, user_id=user_id, file_ids=file_ids)


async def list_for(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 30,
) -> FileSlice:
    after = decode_cursor(cursor) if cursor else None
    rows = await repository.list_slice(
        session, user_id=user_id, conversation_id=conversation_id, status=status, after=after, limit=limit + 1
    )
    items = rows[:limit]
    last = items[-1] if items else None
    has_more = len(rows) > limit
    return FileSlice(
        items=items, next_cursor=encode_cursor(last.created_at, last.id) if has_more and last is not None else None
    )


async def delete(session: AsyncSession, *, user_id: uuid.UUID, file_id: uuid.UUID) -> None:
    """Remove the caller's file; its chunks and knowledge-base memberships go with the row, its bytes by a job
    committed with the deletion (so they are removed even if this process stops right after the commit)."""
    key = await repository.remove(session, user_id=user_id, file_id=file_id)
    if key is None:
        raise NotFound("file not found")
    await jobs.enqueue(session, DELETE_BYTES_JOB, {"storage_key": key})


async def delete_all_of(session: AsyncSession, *, user_id: uuid.UUID) -> int:
    """Remove every file of a user (account erasure): rows now, bytes by jobs committed with the deletion. How
    many."""
    keys = await repository.remove_all_of(session, user_id)
    for key in keys:
        await jobs.enqueue(session, DELETE_BYTES_JOB, {"storage_key": key})
    return len(keys)


async def delete_uploaded_before(session: AsyncSession, *, user_id: uuid.UUID, before: datetime, limit: int) -> int:
    """Remove up to `limit` of a user's uploads older than `before` that are in no knowledge base (retention),
    their bytes by jobs committed with the deletion. How many."""
    keys = await repository.remove_uploaded_before(session, user_id=user_id, before=before, limit=limit)
    for key in keys:
        await jobs.enqueue(session, DELETE_BYTES_JOB, {"storage_key": key})
    return len(keys)
