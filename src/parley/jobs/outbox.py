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
from sqlalchemy.orm import aliased

from parley.db import after_commit
from parley.models import Job
from parley.tracing import spans as tracing

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
    # The W3C traceparent of the request that enqueued the job (tracing on), taken out of the payload.
    trace_parent: str | None = None


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    delay_seconds: float = 0,
    owner: str | None = None,
) -> uuid.UUID:
    """Add a job in the caller's transaction: it exists if and only if the caller's change commits. After the
    commit the workers of this process are woken at once (and other replicas' through RabbitMQ, when set).
    `owner` (e.g. the uploading user's id) makes claiming fair between owners (see `claim`)."""
    if delay_seconds < 0:
        raise ValueError("delay_seconds must not be negative")
    # Refuse a payload the worker could not read back, here in the caller's code path, not later in a worker.
    json.dumps(payload)
    # The job's trace links to the request's (README, "Traces"): its traceparent rides in the payload, under a
    # key the worker removes before the handler sees the payload.
    trace_parent = tracing.trace_parent()
    if trace_parent is not None:
        payload = {**payload, tracing.TRACE_PARENT_KEY: trace_parent}
    job_id = uuid.uuid4()
    await session.execute(
        insert(Job).values(
            id=job_id,
            kind=kind,
            payload=payload,
            status=QUEUED,
            run_after=func.now() + timedelta(seconds=delay_seconds),
            owner_key=owner,
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


async def claim(
    session: AsyncSession, *, kinds: list[str], lease_seconds: float, max_running_per_owner: int = 0
) -> ClaimedJob | None:
    """Take a due job of these kinds: queued and due, or running with a lease that ran out (its worker died).
    Rows another transaction is claiming are skipped, so two workers never take the same job.

    Fair between owners: a job whose owner already has `max_running_per_owner` jobs running waits (0: no
    cap), and among the rest the owner with the fewest running goes first, then the oldest job. So one user's
    big uploads never hold every worker while another user's small file waits behind them. Jobs without an
    owner are never held back. The caller's transaction must commit right after (it holds an owner lock)."""
    passed_over: list[str] = []
    # Without a cap, an owner busy with another claim only yields to other owners: if nobody else has a job
    # due, its job is taken after all (the row is already locked by this transaction).
    fallback: uuid.UUID | None = None
    for _ in range(_MAX_OWNERS_PASSED_OVER):
        candidate = (await session.execute(_candidate(kinds, max_running_per_owner, passed_over))).one_or_none()
        if candidate is None:
            break
        job_id, owner, ranked_running = candidate
        if owner is None:
            return await _take(session, job_id, lease_seconds)
        running = await _lock_owner(session, owner)
        if running is None:  # another claim for this owner is under way: take someone else's job meanwhile
            if not max_running_per_owner and fallback is None:
                fallback = job_id
            passed_over.append(owner)
        elif max_running_per_owner and running >= max_running_per_owner:
            passed_over.append(owner)
        elif running > ranked_running:
            # A claim for this owner committed between the ranking and the lock: rank again with it counted,
            # or two workers starting at once would both take the same user's jobs while another user waits.
            continue
        else:
            return await _take(session, job_id, lease_seconds)
    return await _take(session, fallback, lease_seconds) if fallback is not None else None


# Owners skipped in one claim (busy with another claim, or at their cap since the candidate was chosen).
_MAX_OWNERS_PASSED_OVER = 8
# The first key of the advisory locks that serialise claims per owner (the second is the owner's hash).
_OWNER_LOCK_SPACE = 0x6A6F6273  # "jobs"


def _running_of_owner(owner: Any) -> Any:
    other = aliased(Job)
    return (
        select(func.count())
        .select_from(other)
        .where(other.owner_key == owner, other.status == RUNNING, other.locked_until >= func.now())
        .scalar_subquery()
    )


def _candidate(kinds: list[str], max_running_per_owner: int, passed_over: list[str]) -> Any:
    running = _running_of_owner(Job.owner_key).correlate(Job)
    conditions = [
        Job.kind.in_(kinds),
        or_(
            and_(Job.status == QUEUED, Job.run_after <= func.now()),
            and_(Job.status == RUNNING, Job.locked_until < func.now()),
        ),
    ]
    if max_running_per_owner:
        conditions.append(or_(Job.owner_key.is_(None), running < max_running_per_owner))
    if passed_over:
        conditions.append(or_(Job.owner_key.is_(None), Job.owner_key.not_in(passed_over)))
    return (
        select(Job.id, Job.owner_key, running)
        .where(*conditions)
        .order_by(running, Job.run_after, Job.created_at)
        .limit(1)
        .with_for_update(skip_locked=True, of=Job)
    )


async def _lock_owner(session: AsyncSession, owner: str) -> int | None:
    """Lock `owner` for this claim and count its running jobs, or None when another claim holds the lock:
    two workers claiming the same owner's jobs at once would each count the other's claim as not yet
    running. The lock is held until this transaction ends, so whoever gets it next counts this claim too."""
    locked = await session.scalar(select(func.pg_try_advisory_xact_lock(_OWNER_LOCK_SPACE, func.hashtext(owner))))
    if not locked:
        return None
    # A new statement: it sees every claim committed until the lock was ours.
    return int(await session.scalar(select(_running_of_owner(owner))) or 0)


async def _take(session: AsyncSession, job_id: uuid.UUID, lease_seconds: float) -> ClaimedJob | None:
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id)
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
    payload = dict(row.payload)
    trace_parent = payload.pop(tracing.TRACE_PARENT_KEY, None)
    return ClaimedJob(
        id=row.id,
        kind=row.kind,
        payload=payload,
        attempts=row.attempts,
        trace_parent=trace_parent if isinstance(trace_parent, str) else None,
    )


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


async def pending_of_kind(session: AsyncSession, kind: str, *, running_too: bool) -> bool:
    """Whether a job of `kind` waits (queued, or also running with `running_too`): for self-scheduling periodic
    jobs, which enqueue their next run only when none is pending."""
    statuses = [QUEUED, RUNNING] if running_too else [QUEUED]
    found = await session.scalar(
        select(func.count()).select_from(Job).where(Job.kind == kind, Job.status.in_(statuses))
    )
    return bool(found)


@dataclass(frozen=True)
class QueueDepth:
    """What waits in the outbox for one kind of job: how many, and for how long the oldest has been due."""

    kind: str
    queued: int
    oldest_age_seconds: float


async def queue_depths(session: AsyncSession) -> list[QueueDepth]:
    """Waiting jobs by kind (the metrics' queue depth and age). A job scheduled for later (a retry's backoff)
    counts as queued, but only a job that is due ages."""
    due_since = func.now() - Job.run_after
    rows = await session.execute(
        select(
            Job.kind,
            func.count(),
            func.coalesce(func.max(func.extract("epoch", due_since)).filter(Job.run_after <= func.now()), 0),
        )
        .where(Job.status == QUEUED)
        .group_by(Job.kind)
    )
    return [QueueDepth(kind, int(count), max(0.0, float(age))) for kind, count, age in rows.all()]
