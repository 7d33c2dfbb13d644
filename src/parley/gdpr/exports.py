"""Data exports (GDPR Art. 20): a user asks, a job builds a zip of everything Parley holds about them into the
storage layer, the user downloads it until it expires, then a job deletes it."""

from __future__ import annotations

import tempfile
import uuid
from datetime import timedelta
from typing import IO, Any

import anyio.to_thread
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from parley import jobs
from parley.audit.service import AuditAction, record
from parley.batches import service as batches_service
from parley.config import GdprSettings
from parley.conversations import service as conversation_service
from parley.db import Database
from parley.errors import Conflict, NotFound, ParleyError, TooManyRequests
from parley.files import service as files_service
from parley.gdpr import archive, repository
from parley.jobs import PermanentJobError
from parley.kit.clock import utcnow
from parley.models import File, User, UserExport
from parley.reports import service as reports_service
from parley.storage import Storage, StorageNotFound

_logger = structlog.get_logger("parley.gdpr")

BUILD_JOB = "gdpr.build_export"
EXPIRE_JOB = "gdpr.expire_export"
DELETE_ZIP_JOB = "gdpr.delete_export_zip"
STORAGE_PREFIX = "exports/"
# A second export while one is being built is refused with this Retry-After (it usually takes seconds).
_BUSY_RETRY_SECONDS = 30
_WINDOW = timedelta(hours=24)
_PAGE = 100


class ExportGone(ParleyError):
    status = 410
    code = "export_expired"


def storage_key(user_id: uuid.UUID, export_id: uuid.UUID) -> str:
    """Where an export's zip lives: from ids alone, so erasure can delete it whether or not it was recorded."""
    return f"{STORAGE_PREFIX}{user_id}/{export_id}.zip"


async def request_export(
    session: AsyncSession, *, user_id: uuid.UUID, settings: GdprSettings, ip: str | None
) -> UserExport:
    """Queue an export of the user's data. One at a time, and at most `exports_per_day` per rolling 24 hours:
    otherwise a 429 whose Retry-After says when one may start. Audited."""
    if await repository.lock_user(session, user_id) is None:
        raise NotFound("user not found")
    if await repository.has_active_export(session, user_id):
        raise TooManyRequests(
            "an export of your data is already being prepared", retry_after_seconds=_BUSY_RETRY_SECONDS
        )
    now = utcnow()
    started = await repository.exports_started_since(session, user_id, now - _WINDOW)
    if len(started) >= settings.exports_per_day:
        frees_at = started[len(started) - settings.exports_per_day] + _WINDOW
        raise TooManyRequests(
            f"at most {settings.exports_per_day} exports per 24 hours",
            retry_after_seconds=int((frees_at - now).total_seconds()) + 1,
        )
    export = await repository.add_export(session, UserExport(id=uuid.uuid4(), user_id=user_id, status="queued"))
    await jobs.enqueue(session, BUILD_JOB, {"export_id": str(export.id)}, owner=str(user_id))
    record(session, AuditAction.USER_EXPORT, actor_id=user_id, target_type="user_export", target_id=export.id, ip=ip)
    return export


async def get_export(session: AsyncSession, *, user_id: uuid.UUID, export_id: uuid.UUID) -> UserExport:
    """One of the caller's exports; anyone else's is indistinguishable from a missing one."""
    export = await repository.get_export(session, user_id=user_id, export_id=export_id)
    if export is None:
        raise NotFound("export not found")
    return export


async def list_exports(session: AsyncSession, *, user_id: uuid.UUID) -> list[UserExport]:
    return await repository.list_exports(session, user_id=user_id, limit=20)


async def downloadable(session: AsyncSession, *, user_id: uuid.UUID, export_id: uuid.UUID) -> UserExport:
    """The caller's export if its zip can be downloaded now: 409 while it is being built (or failed), 410 once
    it expired."""
    export = await get_export(session, user_id=user_id, export_id=export_id)
    if export.status == "expired" or (export.expires_at is not None and export.expires_at <= utcnow()):
        raise ExportGone("this export has expired; start a new one")
    if export.status != "ready" or export.storage_key is None:
        raise Conflict(f"this export is not ready (it is {export.status})", export_status=export.status)
    return export


class ExportBuilder:
    """Job `gdpr.build_export` {export_id}: gather the user's data through each domain's service, write the zip
    to a temporary file, store it, and mark the export ready (expiring after `export_expiry_hours`)."""

    def __init__(self, database: Database, storage: Storage, settings: GdprSettings) -> None:
        self.database = database
        self.storage = storage
        self.settings = settings

    async def __call__(self, payload: dict[str, Any]) -> None:
        export_id = _export_id(payload)
        async with self.database.session() as session:
            export = await repository.export_for_update(session, export_id)
            if export is None or export.status not in repository.ACTIVE_EXPORT_STATUSES:
                return  # the account was erased meanwhile, or another attempt finished it
            export.status = "running"
            user_id = export.user_id
        key = storage_key(user_id, export_id)
        with tempfile.TemporaryFile() as target:
            await self._write(target, user_id)
            data = await anyio.to_thread.run_sync(_read_all, target)
        # Sealed with the user's own data key: erasing the account makes any copy of the zip unreadable too.
        await self.storage.put(key, data, content_type="application/zip", owner=user_id)
        async with self.database.session() as session:
            export = await repository.export_for_update(session, export_id)
            if export is None:
                # Erased while it was built: its zip must not outlive the account.
                await self.storage.delete(key)
                return
            now = utcnow()
            hours = self.settings.export_expiry_hours
            export.status, export.storage_key, export.size_bytes = "ready", key, len(data)
            export.ready_at, export.expires_at, export.error = now, now + timedelta(hours=hours), None
            await jobs.enqueue(session, EXPIRE_JOB, {"export_id": str(export_id)}, delay_seconds=hours * 3600)
        _logger.info("user_export_ready", export_id=str(export_id), size_bytes=len(data))

    async def give_up(self, payload: dict[str, Any], error: str) -> None:
        async with self.database.session() as session:
            export = await repository.export_for_update(session, _export_id(payload))
            if export is not None and export.status in repository.ACTIVE_EXPORT_STATUSES:
                export.status, export.error = "failed", "the export could not be built; please try again"

    async def _write(self, target: IO[bytes], user_id: uuid.UUID) -> None:
        writer = archive.ZipWriter(target)
        run = anyio.to_thread.run_sync
        async with self.database.session() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise PermanentJobError("the account no longer exists")
            await run(writer.text, "README.txt", archive.README)
            await run(writer.json, "profile.json", archive.profile_document(user))
            await self._conversations(session, writer, user_id)
            files = await self._files(session, user_id)
            batch_files = await batches_service.exported_files(session, user_id=user_id)
            usage = [archive.usage_document(row) for row in await repository.usage_of(session, user_id)]
            reports = [archive.report_document(row) for row in await reports_service.reports_of(session, user_id)]
        listed = []
        for file in files:
            document = archive.file_document(file)
            document["included"] = await self._file_bytes(writer, file)
            listed.append(document)
        await run(writer.json, "files/files.json", listed)
        batch_listed = []
        for exported in batch_files:
            path = f"batch-files/{exported.document['id']}.jsonl"
            included = await self._stored_bytes(writer, exported.storage_key, path)
            batch_listed.append({**exported.document, "path": path, "included": included})
        await run(writer.json, "batch-files/files.json", batch_listed)
        await run(writer.json, "usage.json", usage)
        await run(writer.json, "reports.json", reports)
        await run(writer.close)

    async def _conversations(self, session: AsyncSession, writer: archive.ZipWriter, user_id: uuid.UUID) -> None:
        cursor: str | None = None
        while True:
            page = await conversation_service.list_for(
                session, user_id=user_id, archived=None, cursor=cursor, limit=_PAGE, source=None
            )
            for listed in page.items:
                conversation, messages = await conversation_service.get_with_messages(
                    session, user_id=user_id, conversation_id=listed.id
                )
                name = f"conversations/{archive.conversation_base_name(conversation)}"
                document = archive.conversation_document(conversation, messages)
                markdown = archive.conversation_markdown(conversation, messages)
                await anyio.to_thread.run_sync(writer.json, f"{name}.json", document)
                await anyio.to_thread.run_sync(writer.text, f"{name}.md", markdown)
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def _files(self, session: AsyncSession, user_id: uuid.UUID) -> list[File]:
        found: list[File] = []
        cursor: str | None = None
        while True:
            page = await files_service.list_for(session, user_id=user_id, cursor=cursor, limit=_PAGE)
            found += page.items
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    async def _file_bytes(self, writer: archive.ZipWriter, file: File) -> bool:
        return await self._stored_bytes(writer, file.storage_key, archive.file_entry_name(file))

    async def _stored_bytes(self, writer: archive.ZipWriter, key: str, name: str) -> bool:
        """Copy stored bytes into the zip chunk by chunk, through the storage layer; False when they are gone."""
        chunks = self.storage.stream(key)
        try:
            first = await anext(chunks, b"")
        except StorageNotFound:
            _logger.warning("user_export_file_missing", storage_key=key)
            return False
        entry = await anyio.to_thread.run_sync(writer.open, name)
        try:
            await anyio.to_thread.run_sync(entry.write, first)
            async for chunk in chunks:
                await anyio.to_thread.run_sync(entry.write, chunk)
        finally:
            await anyio.to_thread.run_sync(entry.close)
        return True


class ExportExpiry:
    """Job `gdpr.expire_export` {export_id}: delete an expired export's zip and mark it expired."""

    def __init__(self, database: Database, storage: Storage) -> None:
        self.database = database
        self.storage = storage

    async def __call__(self, payload: dict[str, Any]) -> None:
        export_id = _export_id(payload)
        async with self.database.session() as session:
            export = await repository.export_for_update(session, export_id)
            if export is None or export.status != "ready":
                return
            if export.expires_at is not None and export.expires_at > utcnow():
                # Not yet (the job ran early, e.g. the setting was shortened later): the sweep comes back to it.
                return
            if export.storage_key is not None:
                await self.storage.delete(export.storage_key)
            export.status, export.storage_key = "expired", None


class ExportZipDeletion:
    """Job `gdpr.delete_export_zip` {storage_key}: remove an erased account's export zip (missing is fine)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def __call__(self, payload: dict[str, Any]) -> None:
        key = payload.get("storage_key")
        if not isinstance(key, str) or not key.startswith(STORAGE_PREFIX):
            raise PermanentJobError(f"not an export's storage key: {key!r}")
        await self.storage.delete(key)


def _export_id(payload: dict[str, Any]) -> uuid.UUID:
    try:
        return uuid.UUID(str(payload["export_id"]))
    except (KeyError, ValueError) as exc:
        raise PermanentJobError(f"bad export job payload: {payload!r}") from exc


def _read_all(target: IO[bytes]) -> bytes:
    target.seek(0)
    return target.read()
