"""The job that runs a batch (`batch.run` {batch_id}) on the existing job workers, behind chat.

Lines run one at a time per batch, and at most `concurrent_lines` at once in a process, all batches together: the
models' remaining capacity stays with chat, which never waits for a batch (it does not use the job workers). A job
runs lines for about `slice_seconds`, then queues itself again and hands its worker back, so other users' jobs
(uploads being read, other batches) take turns with it, and a batch never runs into the jobs' time budget.

Each line's result is kept (sealed) as soon as it is known, with the batch's counts, in one transaction; a line
with a result is never run again. A worker that dies mid-batch leaves its lease to run out and another worker
resumes at the first line without a result (only the line in flight at the crash can run twice). Between lines
the job looks at the batch's status: `cancelling` stops it (`cancelled`), and past its 24 h window it stops as
`expired`. Either way the results so far are written: an output file (lines that succeeded) and an error file
(lines that failed; with `batch_cancelled`/`batch_expired` errors for the lines that never ran), both `/v1/files`
of purpose `batch_output`."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import structlog

from parley import jobs
from parley.api_keys import service as api_key_service
from parley.auth import permissions
from parley.auth.principal import Principal
from parley.batches import repository
from parley.batches.input_lines import InputLine, InvalidInputFile, parse_lines
from parley.batches.lines import LineAnswer, LineRunner, RetryLater
from parley.batches.schemas import ACTIVE
from parley.batches.schemas import batch_id as public_batch_id
from parley.batches.service import BATCH_JOB, store_result_file
from parley.config import BatchSettings
from parley.crypto.keyring import Crypto
from parley.db import Database
from parley.jobs import JobWorker, PermanentJobError
from parley.kit.clock import utcnow
from parley.kit.sse import compact_json
from parley.models import Batch
from parley.storage import Storage, StorageNotFound

_logger = structlog.get_logger("parley.batches")
_NOT_RUN = {
    "cancelled": ("batch_cancelled", "This request was not run: the batch was cancelled."),
    "expired": ("batch_expired", "This request could not be executed before the completion window expired."),
}


def _result_context(batch_id: uuid.UUID, line: int) -> str:
    return f"batch_results.{batch_id}.{line}"


@dataclass(frozen=True)
class _Snapshot:
    """What a slice needs of its batch, read once at its start."""

    id: uuid.UUID
    user_id: uuid.UUID
    api_key_id: uuid.UUID | None
    endpoint: str
    input_file_id: uuid.UUID | None
    status: str


class BatchRunner:
    """Job `batch.run` {batch_id}: run a slice of a batch's lines, or finish it (see the module)."""

    def __init__(
        self,
        database: Database,
        storage: Storage,
        crypto: Crypto,
        lines: LineRunner,
        settings: BatchSettings,
    ) -> None:
        self.database = database
        self.storage = storage
        self.crypto = crypto
        self.lines = lines
        self.settings = settings
        # Batch lines of this process, all batches together.
        self._running = asyncio.Semaphore(settings.concurrent_lines)

    async def __call__(self, payload: dict[str, Any]) -> None:
        batch_id = _batch_id(payload)
        snapshot = await self._start(batch_id)
        if snapshot is None:
            return
        if snapshot.status == "cancelling":
            await self._finish(snapshot, "cancelled")
            return
        lines = await self._input(snapshot)
        if lines is None:
            return
        principal = await self._principal(snapshot)
        if principal is None:
            await self._finish(
                snapshot, "failed", error=("api_key_revoked", "the API key that created the batch was revoked")
            )
            return
        async with self.database.session() as session:
            done = await repository.done_lines(session, batch_id)
        started, ran = time.monotonic(), 0
        for line in lines:
            if line.number in done:
                continue
            stop = await self._stop_reason(batch_id)
            if stop is not None:
                await self._finish(snapshot, stop)
                return
            if ran and time.monotonic() - started >= self.settings.slice_seconds:
                await self._again(snapshot)
                return
            try:
                async with self._running:
                    answer = await self.lines.run(principal, snapshot.endpoint, line.body)
            except RetryLater as wait:
                await self._again(snapshot, delay_seconds=wait.seconds)
                return
            await self._keep(snapshot, line, answer)
            ran += 1
        await self._finish(snapshot, "completed")

    async def give_up(self, payload: dict[str, Any], error: str) -> None:
        """The job failed for good (its worker kept dying, or it kept raising): the batch fails, with the results
        of the lines that ran."""
        async with self.database.session() as session:
            row = await repository.batch_for_update(session, _batch_id(payload))
            if row is None or row.status not in ACTIVE:
                return
            snapshot = _snapshot(row)
        _logger.error("batch_failed", batch_id=str(snapshot.id), error=error)
        await self._finish(snapshot, "failed", error=("batch_failed", "the batch could not be run to its end"))

    async def _start(self, batch_id: uuid.UUID) -> _Snapshot | None:
        async with self.database.session() as session:
            row = await repository.batch_for_update(session, batch_id)
            if row is None or row.status not in ACTIVE:
                return None  # deleted with its account, or finished by an earlier attempt
            if row.status == "validating":
                row.status, row.in_progress_at = "in_progress", utcnow()
            return _snapshot(row)

    async def _input(self, snapshot: _Snapshot) -> list[InputLine] | None:
        """The batch's lines, read again from the stored input file; None when it is gone (the batch failed)."""
        data: bytes | None = None
        if snapshot.input_file_id is not None:
            async with self.database.session() as session:
                source = await repository.file_of(session, user_id=snapshot.user_id, file_id=snapshot.input_file_id)
            if source is not None:
                try:
                    data = await self.storage.get(source.storage_key)
                except StorageNotFound:
                    data = None
        if data is None:
            await self._finish(snapshot, "failed", error=("input_file_missing", "the input file was deleted"))
            return None
        try:
            return await anyio.to_thread.run_sync(
                lambda: parse_lines(data, endpoint=snapshot.endpoint, max_lines=self.settings.max_lines)
            )
        except InvalidInputFile as exc:  # checked when the batch was created: only a lowered setting gets here
            await self._finish(snapshot, "failed", error=("invalid_input_file", exc.message))
            return None

    async def _principal(self, snapshot: _Snapshot) -> Principal | None:
        """The caller the lines run as: the batch's API key with its scopes as they are now (None: the key was
        revoked or expired, or the account suspended)."""
        async with self.database.session() as session:
            found = await repository.key_with_owner(session, user_id=snapshot.user_id, api_key_id=snapshot.api_key_id)
        if found is None:
            return None
        key, user, custom = found
        if not user.is_active:
            return None
        held = permissions.resolve(user.role, custom)
        if key is None:
            if snapshot.api_key_id is not None:
                return None
            return Principal(user=user, permissions=held)
        if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= utcnow()):
            return None
        return Principal(user=user, permissions=api_key_service.effective_scopes(key, held), api_key_id=key.id)

    async def _stop_reason(self, batch_id: uuid.UUID) -> str | None:
        async with self.database.session() as session:
            found = await repository.status_of(session, batch_id)
        if found is None:
            raise PermanentJobError("the batch no longer exists")
        status, expires_at = found
        if status == "cancelling":
            return "cancelled"
        if utcnow() >= expires_at:
            return "expired"
        return None

    async def _again(self, snapshot: _Snapshot, *, delay_seconds: float = 0) -> None:
        async with self.database.session() as session:
            await jobs.enqueue(
                session,
                BATCH_JOB,
                {"batch_id": str(snapshot.id)},
                delay_seconds=delay_seconds,
                owner=str(snapshot.user_id),
            )

    async def _keep(self, snapshot: _Snapshot, line: InputLine, answer: LineAnswer) -> None:
        result = {
            "id": f"batch_req_{uuid.uuid4().hex}",
            "custom_id": line.custom_id,
            "response": {"status_code": answer.status, "request_id": answer.request_id, "body": answer.body},
            "error": None,
        }
        sealed = await self.crypto.seal(
            snapshot.user_id, compact_json(result).encode(), context=_result_context(snapshot.id, line.number)
        )
        async with self.database.session() as session:
            await repository.add_result(
                session,
                batch_id=snapshot.id,
                line=line.number,
                failed=not answer.ok,
                content_sealed=sealed,
                prompt_tokens=answer.prompt_tokens,
                completion_tokens=answer.completion_tokens,
            )

    async def _finish(self, snapshot: _Snapshot, status: str, *, error: tuple[str, str] | None = None) -> None:
        """Write the result files and set the final status, in one unit of work; the kept results go with it."""
        async with self.database.session() as session:
            row = await repository.batch_for_update(session, snapshot.id)
            if row is None or row.status not in ACTIVE:
                return
            if status == "completed":
                # Only a batch that ran to its end shows `finalizing` (as OpenAI's do): a worker that dies now
                # leaves a status the next attempt reads the same way (cancelling stays cancelling).
                row.status, row.finalizing_at = "finalizing", utcnow()
        outputs, errors = await self._result_lines(snapshot, status)
        name = public_batch_id(snapshot.id)
        async with self.database.session() as session:
            row = await repository.batch_for_update(session, snapshot.id)
            if row is None:
                return
            if outputs:
                row.output_file_id = await store_result_file(
                    session,
                    self.storage,
                    self.crypto,
                    user_id=snapshot.user_id,
                    filename=f"{name}_output.jsonl",
                    data=b"".join(outputs),
                )
            if errors:
                row.error_file_id = await store_result_file(
                    session,
                    self.storage,
                    self.crypto,
                    user_id=snapshot.user_id,
                    filename=f"{name}_error.jsonl",
                    data=b"".join(errors),
                )
            now = utcnow()
            row.status = status
            if status == "completed":
                row.completed_at = now
            elif status == "cancelled":
                row.cancelled_at = now
            elif status == "expired":
                row.expired_at = now
            else:
                row.failed_at = now
            if error is not None:
                code, message = error
                row.errors = [{"code": code, "message": message, "param": None, "line": None}]
            await repository.forget_results(session, snapshot.id)
        _logger.info("batch_finished", batch_id=str(snapshot.id), status=status)

    async def _result_lines(self, snapshot: _Snapshot, status: str) -> tuple[list[bytes], list[bytes]]:
        """The output and error files' lines, in the input's order."""
        async with self.database.session() as session:
            results = await repository.results_of(session, snapshot.id)
        outputs: list[bytes] = []
        errors: list[bytes] = []
        for result in results:
            plain = await self.crypto.open(
                snapshot.user_id, result.content_sealed, context=_result_context(snapshot.id, result.line)
            )
            (errors if result.failed else outputs).append(plain + b"\n")
        if status in _NOT_RUN:
            errors += await self._not_run(snapshot, {result.line for result in results}, *_NOT_RUN[status])
        return outputs, errors

    async def _not_run(self, snapshot: _Snapshot, done: set[int], code: str, message: str) -> list[bytes]:
        lines = await self._input_quietly(snapshot)
        return [
            compact_json(
                {
                    "id": f"batch_req_{uuid.uuid4().hex}",
                    "custom_id": line.custom_id,
                    "response": None,
                    "error": {"code": code, "message": message},
                }
            ).encode()
            + b"\n"
            for line in lines
            if line.number not in done
        ]

    async def _input_quietly(self, snapshot: _Snapshot) -> list[InputLine]:
        if snapshot.input_file_id is None:
            return []
        async with self.database.session() as session:
            source = await repository.file_of(session, user_id=snapshot.user_id, file_id=snapshot.input_file_id)
        if source is None:
            return []
        try:
            data = await self.storage.get(source.storage_key)
            return await anyio.to_thread.run_sync(
                lambda: parse_lines(data, endpoint=snapshot.endpoint, max_lines=self.settings.max_lines)
            )
        except (StorageNotFound, InvalidInputFile):
            return []


def _snapshot(row: Batch) -> _Snapshot:
    return _Snapshot(row.id, row.user_id, row.api_key_id, row.endpoint, row.input_file_id, row.status)


def _batch_id(payload: dict[str, Any]) -> uuid.UUID:
    try:
        return uuid.UUID(str(payload["batch_id"]))
    except (KeyError, ValueError) as exc:
        raise PermanentJobError(f"bad batch job payload: {payload!r}") from exc


def register_jobs(
    worker: JobWorker,
    database: Database,
    storage: Storage,
    crypto: Crypto,
    lines: LineRunner,
    settings: BatchSettings,
) -> None:
    runner = BatchRunner(database, storage, crypto, lines, settings)
    worker.register(BATCH_JOB, runner, on_give_up=runner.give_up)
