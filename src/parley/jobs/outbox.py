"""Every SQL statement of the jobs outbox, and `enqueue`.

All times are the database's (`now()`), so replicas with skewed clocks agree on what is due and whose lease
has run out.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.db import after_commit
from parley.models import Job

if TYPE_CHECKING:
    from parley.jobs.worker import JobWorker

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
MAX_ERROR_CHARS = 2000

# The workers of this process, by the engine their database uses: an enqueue committed through that engine
# wakes them (and, through the first with a RabbitMQ connection, every other replica's).
_local_workers: dict[object, list[JobWorker]] = {}


@dataclass(frozen=True)
class ClaimedJob:
    id: uuid.UUID
    kind: str
    payload: dict[str, Any]
    # Claims so far, this one included; it also tells a worker whether the job is still its own.
    attempts: int


async def enqueue(session: AsyncSession, kind: str, payload: dict[str, Any], *, delay_seconds: float = 0) -> uuid.UUID:
    """Add a job in the caller's transaction: it exists if and only if the caller's change commits. After the
    commit the workers of this process are woken at once (and other replicas' through RabbitMQ, when set)."""
    if delay_seconds < 0:
        raise ValueError("delay_seconds must not be negative")
    # Refuse a payload the worker could not read back, here in the caller's code path, not later in a worker.
    json.dumps(payload)
    job_id = uuid.uuid4()
    await session.execute(
        insert(Job).values(
            id=job_id,
            kind=kind,
            payload=payload,
            status=QUEUED,
            run_after=func.now() + timedelta(seconds=delay_seconds),
        )
    )
    engine = session.bind
    if delay_seconds == 0:
        after_commit(session, lambda: _announce(engine, kind), on_rollback=_nothing)
    return job_id


def _nothing() -> None:
    return None


def _announce(engine: object, kind: str) -> None:
    workers = _local_workers.get(engine, [])
    for worker in workers:
        worker.wake()
    for worker in workers:
        if worker.publish_wakeup(kind):
            break


def register_local(engine: object, worker: JobWorker) -> None:
    _local_workers.setdefault(engine, []).append(worker)


def unregister_local(engine: object, worker: JobWorker) -> None:
    workers = _local_workers.get(engine, [])
    if worker in workers:
        workers.remove(worker)
    if not workers:
        _local_workers.pop(engine, None)


async def claim(session: AsyncSession, *, kinds: list[str], lease_seconds: float) -> ClaimedJob | None:
    """Take the oldest due job of these kinds: queued and due, or running with a lease that ran out (its
    worker died). Rows another transaction is claiming are skipped, so two workers never take the same job."""
    due = (
        select(Job.id)
        .where(
            Job.kind.in_(kinds),
            or_(
                and_(Job.status == QUEUED, Job.run_after <= func.now()),
                and_(Job.status == RUNNING, Job.locked_until < func.now()),
            ),
        )
        .order_by(Job.run_after, Job.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = await session.execute(
        update(Job)
        .where(Job.id == due)
        .values(
            status=RUNNING,
            attempts=Job.attempts + 1,
            locked_until=func.now() + timedelta(seconds=lease_seconds),
            updated_at=func.now(),
        )
        .returning(Job.id, Job.kind, Job.payload, Job.attempts)
        .execution_options(synchronize_session=False)
    )
    row = result.one_or_none()
    if row is None:
        return None
    return ClaimedJob(id=row.id, kind=row.kind, payload=dict(row.payload), attempts=row.attempts)


def _still_ours(job: ClaimedJob) -> Any:
    # A worker whose lease ran out may find its job claimed again (attempts moved on): it must not touch it.
    return and_(Job.id == job.id, Job.status == RUNNING, Job.attempts == job.attempts)


async def _set(session: AsyncSession, job: ClaimedJob, **values: Any) -> bool:
    result = await session.execute(
        update(Job)
        .where(_still_ours(job))
        .values(updated_at=func.now(), **values)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return result.one_or_none() is not None


async def extend_lease(session: AsyncSession, job: ClaimedJob, *, lease_seconds: float) -> bool:
    return await _set(session, job, locked_until=func.now() + timedelta(seconds=lease_seconds))


async def mark_done(session: AsyncSession, job: ClaimedJob) -> bool:
    return await _set(session, job, status=DONE, locked_until=None, last_error=None)


async def mark_failed(session: AsyncSession, job: ClaimedJob, error: str) -> bool:
    return await _set(session, job, status=FAILED, locked_until=None, last_error=error[:MAX_ERROR_CHARS])


async def schedule_retry(session: AsyncSession, job: ClaimedJob, error: str, *, delay_seconds: float) -> bool:
    return await _set(
        session,
        job,
        status=QUEUED,
        locked_until=None,
        last_error=error[:MAX_ERROR_CHARS],
        run_after=func.now() + timedelta(seconds=delay_seconds),
    )


async def release(session: AsyncSession, job: ClaimedJob) -> bool:
    """Hand an unfinished job back (its worker is stopping): due now, and this attempt does not count."""
    return await _set(session, job, status=QUEUED, locked_until=None, attempts=Job.attempts - 1, run_after=func.now())


async def prune_done(session: AsyncSession, *, older_than: timedelta) -> int:
    """Forget finished jobs older than `older_than` (failed ones stay for inspection)."""
    result = await session.execute(
        delete(Job)
        .where(Job.status == DONE, Job.updated_at < func.now() - older_than)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return len(result.all())
