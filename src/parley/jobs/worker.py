"""The job worker: claims due jobs from the outbox and runs their handlers, with leases, retries and a
graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.exc import SQLAlchemyError

from parley.config import JobSettings
from parley.db import Database
from parley.jobs import outbox
from parley.jobs.outbox import ClaimedJob
from parley.tracing import spans as tracing

if TYPE_CHECKING:
    from parley.jobs.wakeup import AmqpWakeup

_logger = structlog.get_logger("parley.jobs")

_DATABASE_ERRORS = (OSError, TimeoutError, SQLAlchemyError)

JobHandler = Callable[[dict[str, Any]], Awaitable[None]]
# Told when a job of its kind is given up for good after retries (or after its workers kept dying), with the
# job's payload and last error: the place to turn "will retry" into a final state the user can see.
GiveUpHandler = Callable[[dict[str, Any], str], Awaitable[None]]


# The start of a job's last error when it ran past `time_budget_seconds` (give-up hooks may tell the user).
TIME_BUDGET_EXCEEDED = "ran past its time budget"


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help (the input is bad): the job fails with this message."""


class JobWorker:
    """Runs jobs of the kinds registered on it, in `settings.workers` concurrent loops.

    A loop claims a job in a short transaction, then runs the handler outside any transaction while a
    heartbeat extends the lease; a worker that dies leaves the lease to run out and another claims the job.
    A handler that raises is retried with exponential backoff up to `max_attempts`; `PermanentJobError`
    fails the job at once, and so does running past `time_budget_seconds` (cancelled, not retried: it would
    only take the worker for as long again). Claims are fair between the jobs' owners (`outbox.claim`). The
    loops sleep until woken (a local commit, a RabbitMQ wake-up) or until the poll interval passes, so the
    outbox is the only truth and no wake-up is needed for correctness.
    """

    def __init__(
        self,
        database: Database,
        settings: JobSettings,
        *,
        rabbitmq_url: str | None = None,
        exchange: str = "parley.jobs",
        retry_base_seconds: float = 5.0,
        retry_max_seconds: float = 600.0,
        stop_timeout_seconds: float = 10.0,
    ) -> None:
        self.database = database
        self.settings = settings
        self._handlers: dict[str, JobHandler] = {}
        self._give_up_handlers: dict[str, GiveUpHandler] = {}
        self._retry_base = retry_base_seconds
        self._retry_max = retry_max_seconds
        self._stop_timeout = stop_timeout_seconds
        self._wakeups = [asyncio.Event() for _ in range(settings.workers)]
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        self._amqp: AmqpWakeup | None = None
        if rabbitmq_url:
            # aio_pika is imported only when RabbitMQ is configured: it costs every process start a second on a
            # busy machine (README, "Several processes").
            from parley.jobs.wakeup import AmqpWakeup

            self._amqp = AmqpWakeup(rabbitmq_url, exchange=exchange, on_wake=self.wake, consume=settings.workers > 0)

    def register(self, kind: str, handler: JobHandler, *, on_give_up: GiveUpHandler | None = None) -> None:
        """Run jobs of `kind` with `handler`; `on_give_up` (optional) is awaited once when such a job fails for
        good without the handler having said so (`PermanentJobError` is the handler's own final word)."""
        if kind in self._handlers:
            raise ValueError(f"a handler for job kind {kind!r} is already registered")
        self._handlers[kind] = handler
        if on_give_up is not None:
            self._give_up_handlers[kind] = on_give_up
        self.wake()

    @property
    def kinds(self) -> list[str]:
        return sorted(self._handlers)

    async def start(self) -> None:
        self._stopping = False
        async with self.database.session() as session:
            await outbox.prune_done(session, older_than=timedelta(days=7))
        if self._amqp is not None:
            await self._amqp.start()
        outbox.register_local(self.database.engine, self)
        self._loops = [asyncio.create_task(self._loop(i), name=f"job-worker-{i}") for i in range(len(self._wakeups))]

    async def stop(self) -> None:
        """Let running jobs finish (up to the stop timeout); jobs still running then are handed back to the
        queue for another worker, not left waiting for their lease to run out."""
        self._stopping = True
        outbox.unregister_local(self.database.engine, self)
        self.wake()
        if self._loops:
            _, pending = await asyncio.wait(self._loops, timeout=self._stop_timeout)
            for task in pending:
                task.cancel()
            # A cancelled job hands itself back (one short statement); a loop that still has not ended after
            # another stop timeout is left behind rather than holding the process's shutdown.
            _, stuck = await asyncio.wait(self._loops, timeout=self._stop_timeout)
            if stuck:
                _logger.warning("jobs_stop_timed_out", loops=len(stuck))
        self._loops = []
        if self._amqp is not None:
            await self._amqp.aclose()

    def wake(self) -> None:
        for event in self._wakeups:
            event.set()

    def publish_wakeup(self, kind: str) -> bool:
        return self._amqp is not None and self._amqp.publish(kind)

    async def run_pending(self) -> int:
        """Run every due job of the registered kinds now, in this task; how many ran (for tests and tools)."""
        count = 0
        while (job := await self._claim()) is not None:
            await self._execute(job)
            count += 1
        return count

    async def _loop(self, index: int) -> None:
        wakeup = self._wakeups[index]
        while not self._stopping:
            wakeup.clear()
            try:
                job = await self._claim()
                if job is not None:
                    await self._execute(job)
                    continue
            except _DATABASE_ERRORS as exc:
                # The database is away: a claimed job keeps its lease and is taken again once it runs out.
                _logger.warning("jobs_database_unavailable", error=f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), self.settings.poll_interval_seconds)

    async def _claim(self) -> ClaimedJob | None:
        if not self._handlers:
            return None
        async with self.database.session() as session:
            return await outbox.claim(
                session,
                kinds=self.kinds,
                lease_seconds=self.settings.lease_seconds,
                max_running_per_owner=self.settings.max_running_per_owner,
            )

    async def _execute(self, job: ClaimedJob) -> None:
        # A trace of its own, linked to the request that enqueued the job (README, "Traces").
        attributes: dict[str, str | int] = {
            "parley.job.kind": job.kind,
            "parley.job.id": str(job.id),
            "parley.job.attempt": job.attempts,
        }
        with tracing.job_span(f"job {job.kind}", attributes, parent=job.trace_parent):
            await self._run(job)

    async def _run(self, job: ClaimedJob) -> None:
        log = _logger.bind(job_id=str(job.id), kind=job.kind, attempt=job.attempts)
        if job.attempts > self.settings.max_attempts:
            # Claimed again after its lease ran out more often than it may be tried: its worker keeps dying.
            error = f"stopped without finishing {job.attempts - 1} times (worker lost)"
            await self._record(outbox.mark_failed, job, error)
            log.error("job_failed", reason="worker lost too often")
            await self._give_up(job, error)
            return
        heartbeat = asyncio.create_task(self._keep_lease(job))
        budget = asyncio.timeout(self.settings.time_budget_seconds)
        try:
            async with budget:
                await self._handlers[job.kind](job.payload)
        except TimeoutError as exc:
            tracing.failed(exc)
            if not budget.expired():
                await self._failed(job, exc, log)  # the handler's own timeout: an ordinary failure
            else:
                error = f"{TIME_BUDGET_EXCEEDED} of {self.settings.time_budget_seconds:g} s"
                log.error("job_failed", error=error)
                await self._record(outbox.mark_failed, job, error)
                await self._give_up(job, error)
        except PermanentJobError as exc:
            tracing.failed(exc)
            log.warning("job_failed", error=str(exc))
            await self._record(outbox.mark_failed, job, str(exc) or type(exc).__name__)
        except asyncio.CancelledError:
            # Handed back even though this task is being cancelled (the process is stopping).
            await asyncio.shield(self._record(outbox.release, job))
            raise
        except Exception as exc:  # the handler's failure is recorded on the job, and retried
            tracing.failed(exc)
            await self._failed(job, exc, log)
        else:
            await self._record(outbox.mark_done, job)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _failed(self, job: ClaimedJob, exc: Exception, log: Any) -> None:
        """Retry with backoff, or give up after the last attempt."""
        error = f"{type(exc).__name__}: {exc}"
        if job.attempts >= self.settings.max_attempts:
            log.error("job_failed", error=error)
            await self._record(outbox.mark_failed, job, error)
            await self._give_up(job, error)
        else:
            delay = self._backoff(job.attempts)
            log.warning("job_retry", error=error, retry_in_seconds=round(delay, 1))
            await self._record(outbox.schedule_retry, job, error, delay_seconds=delay)

    async def _give_up(self, job: ClaimedJob, error: str) -> None:
        handler = self._give_up_handlers.get(job.kind)
        if handler is None:
            return
        try:
            await handler(job.payload, error)
        except Exception as exc:  # the job stays failed either way; the hook's own failure is only logged
            _logger.error(
                "job_give_up_hook_failed", job_id=str(job.id), kind=job.kind, error=f"{type(exc).__name__}: {exc}"
            )

    def _backoff(self, attempts: int) -> float:
        delay: float = min(self._retry_base * 2.0 ** (attempts - 1), self._retry_max)
        return delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not secrecy

    async def _keep_lease(self, job: ClaimedJob) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            try:
                async with self.database.session() as session:
                    still_ours = await outbox.extend_lease(session, job, lease_seconds=self.settings.lease_seconds)
            except _DATABASE_ERRORS as exc:
                _logger.warning("jobs_lease_not_extended", job_id=str(job.id), error=str(exc))
                continue
            if not still_ours:
                return

    async def _record(self, change: Callable[..., Awaitable[bool]], job: ClaimedJob, *args: Any, **kwargs: Any) -> None:
        async with self.database.session() as session:
            if not await change(session, job, *args, **kwargs):
                _logger.warning("job_lost_lease", job_id=str(job.id), kind=job.kind)
