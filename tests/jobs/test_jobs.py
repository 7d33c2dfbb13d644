"""The outbox and its worker: a job exists only if its transaction commits, runs once, survives a crashed
worker, is retried with backoff and then fails with its error, and is never run twice at the same time."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from parley.db import Database
from parley.jobs import PermanentJobError, enqueue
from parley.models import Job

ROOT = Path(__file__).resolve().parents[2]


async def job_row(database: Database, job_id: uuid.UUID) -> Job:
    async with database.session() as session:
        job = await session.get(Job, job_id)
        assert job is not None
        return job


async def job_count(database: Database, kind: str) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Job).where(Job.kind == kind)) or 0)


async def make_due(database: Database, job_id: uuid.UUID) -> None:
    """Let the retry's backoff pass (the test does not wait 30 s of real time)."""
    async with database.session() as session:
        await session.execute(update(Job).where(Job.id == job_id).values(run_after=func.now()))


async def add_job(database: Database, kind: str, payload: dict[str, Any], **options: Any) -> uuid.UUID:
    async with database.session() as session:
        return await enqueue(session, kind, payload, **options)


class Recorder:
    """A handler that records what it was given and signals each run."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.ran = asyncio.Event()

    async def __call__(self, payload: dict[str, Any]) -> None:
        self.payloads.append(payload)
        self.ran.set()


class TestEnqueueIsTransactional:
    async def test_a_committed_job_runs_at_once_without_waiting_for_the_poll(self, database, kind, make_worker):
        worker = make_worker(database, workers=1, poll_interval_seconds=60)
        handler = Recorder()
        worker.register(kind, handler)
        await worker.start()
        await asyncio.sleep(0.1)  # the loop has looked once and now sleeps for the 60 s poll

        job_id = await add_job(database, kind, {"file_id": "abc"})

        await asyncio.wait_for(handler.ran.wait(), timeout=5)
        assert handler.payloads == [{"file_id": "abc"}]
        for _ in range(50):
            if (await job_row(database, job_id)).status == "done":
                break
            await asyncio.sleep(0.05)
        job = await job_row(database, job_id)
        assert (job.status, job.attempts, job.locked_until) == ("done", 1, None)

    async def test_a_rolled_back_job_never_exists(self, database, kind, make_worker):
        worker = make_worker(database)
        handler = Recorder()
        worker.register(kind, handler)

        async def failing_change() -> None:
            async with database.session() as session:
                await enqueue(session, kind, {"n": 1})
                raise RuntimeError("the change that needed the job failed")

        with pytest.raises(RuntimeError):
            await failing_change()

        assert await worker.run_pending() == 0
        assert handler.payloads == [] and await job_count(database, kind) == 0

    async def test_a_job_is_invisible_to_workers_until_its_transaction_commits(self, database, kind, make_worker):
        worker = make_worker(database)
        handler = Recorder()
        worker.register(kind, handler)

        async with database.session() as session:
            await enqueue(session, kind, {"n": 1})
            assert await worker.run_pending() == 0  # another transaction: sees nothing yet
        assert await worker.run_pending() == 1
        assert handler.payloads == [{"n": 1}]

    async def test_a_delayed_job_waits_for_its_time(self, database, kind, make_worker):
        worker = make_worker(database)
        handler = Recorder()
        worker.register(kind, handler)
        job_id = await add_job(database, kind, {"n": 1}, delay_seconds=600)

        assert await worker.run_pending() == 0
        job = await job_row(database, job_id)
        assert job.status == "queued" and (job.run_after - datetime.now(UTC)).total_seconds() > 500

    async def test_a_payload_that_is_not_json_is_refused_at_enqueue(self, database, kind):
        with pytest.raises(TypeError):
            await add_job(database, kind, {"when": datetime.now(UTC)})
        assert await job_count(database, kind) == 0

    async def test_a_worker_leaves_jobs_of_kinds_it_cannot_run(self, database, kind, make_worker):
        worker = make_worker(database)
        worker.register(kind, Recorder())
        other_id = await add_job(database, f"{kind}-other", {})

        assert await worker.run_pending() == 0
        assert (await job_row(database, other_id)).status == "queued"


async def _abandoned_by_dead_workers(database, job_id, *, attempts: int) -> None:
    """The job as workers that died holding it leave it: running, claimed `attempts` times, its lease over."""
    async with database.session() as session:
        await session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                status="running", attempts=attempts, locked_until=func.now() - func.make_interval(0, 0, 0, 0, 0, 0, 1)
            )
        )


class TestRetries:
    async def test_a_failing_job_is_retried_with_growing_backoff_then_fails_with_its_last_error(
        self, database, kind, make_worker
    ):
        worker = make_worker(database, max_attempts=3)
        calls = 0

        async def broken(payload: dict[str, Any]) -> None:
            nonlocal calls
            calls += 1
            raise ConnectionError(f"upstream down (call {calls})")

        worker.register(kind, broken)
        job_id = await add_job(database, kind, {})
        delays = []
        for attempt in (1, 2):
            assert await worker.run_pending() == 1
            job = await job_row(database, job_id)
            assert (job.status, job.attempts) == ("queued", attempt)
            assert job.last_error == f"ConnectionError: upstream down (call {attempt})"
            delays.append((job.run_after - job.updated_at).total_seconds())
            assert await worker.run_pending() == 0  # not due before its backoff has passed
            await make_due(database, job_id)
        assert await worker.run_pending() == 1

        job = await job_row(database, job_id)
        assert (job.status, job.attempts, job.locked_until) == ("failed", 3, None)
        assert job.last_error == "ConnectionError: upstream down (call 3)"
        assert 24 <= delays[0] <= 36 and 48 <= delays[1] <= 72  # 30 s, then 60 s, with jitter
        await make_due(database, job_id)
        assert await worker.run_pending() == 0 and calls == 3

    async def test_a_job_that_fails_once_succeeds_on_its_retry(self, database, kind, make_worker):
        worker = make_worker(database)
        outcomes = [OSError("disk busy"), None]

        async def flaky(payload: dict[str, Any]) -> None:
            if (failure := outcomes.pop(0)) is not None:
                raise failure

        worker.register(kind, flaky)
        job_id = await add_job(database, kind, {})
        await worker.run_pending()
        await make_due(database, job_id)
        await worker.run_pending()

        job = await job_row(database, job_id)
        assert (job.status, job.attempts, job.last_error) == ("done", 2, None)

    async def test_a_permanent_error_fails_the_job_at_once(self, database, kind, make_worker):
        worker = make_worker(database, max_attempts=5)

        async def refuse(payload: dict[str, Any]) -> None:
            raise PermanentJobError("the file is encrypted")

        worker.register(kind, refuse)
        job_id = await add_job(database, kind, {})
        assert await worker.run_pending() == 1

        job = await job_row(database, job_id)
        assert (job.status, job.attempts, job.last_error) == ("failed", 1, "the file is encrypted")


class TestGivingUp:
    async def test_the_give_up_hook_hears_of_the_last_failure_once(self, database, kind, make_worker):
        worker = make_worker(database, max_attempts=2)
        given_up: list[tuple[dict[str, Any], str]] = []

        async def broken(payload: dict[str, Any]) -> None:
            raise ConnectionError("upstream down")

        async def hook(payload: dict[str, Any], error: str) -> None:
            given_up.append((payload, error))

        worker.register(kind, broken, on_give_up=hook)
        job_id = await add_job(database, kind, {"file_id": "f1"})
        await worker.run_pending()
        assert given_up == []  # a retry is still to come
        await make_due(database, job_id)
        await worker.run_pending()

        assert given_up == [({"file_id": "f1"}, "ConnectionError: upstream down")]
        assert (await job_row(database, job_id)).status == "failed"

    async def test_a_permanent_error_is_the_handlers_own_last_word(self, database, kind, make_worker):
        worker = make_worker(database, max_attempts=5)
        given_up: list[str] = []

        async def refuse(payload: dict[str, Any]) -> None:
            raise PermanentJobError("the file is encrypted")

        async def hook(payload: dict[str, Any], error: str) -> None:
            given_up.append(error)

        worker.register(kind, refuse, on_give_up=hook)
        await add_job(database, kind, {})
        await worker.run_pending()
        assert given_up == []

    async def test_a_job_whose_workers_keep_dying_is_given_up_and_a_failing_hook_changes_nothing(
        self, database, kind, make_worker
    ):
        worker = make_worker(database, max_attempts=1)
        heard: list[str] = []

        async def hook(payload: dict[str, Any], error: str) -> None:
            heard.append(error)
            raise RuntimeError("the hook itself broke")

        worker.register(kind, Recorder(), on_give_up=hook)
        job_id = await add_job(database, kind, {})
        await _abandoned_by_dead_workers(database, job_id, attempts=1)  # its worker died holding it

        assert await worker.run_pending() == 1
        assert len(heard) == 1 and "worker lost" in heard[0]
        assert (await job_row(database, job_id)).status == "failed"
        assert await worker.run_pending() == 0


class TestCrashedWorkers:
    async def test_a_killed_workers_job_is_claimed_again_once_its_lease_runs_out(
        self, database, database_url, kind, make_worker
    ):
        job_id = await add_job(database, kind, {"n": 7})
        crashing = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.jobs.crashing_worker",
            database_url,
            kind,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            assert crashing.stdout is not None
            line = await asyncio.wait_for(crashing.stdout.readline(), timeout=60)
            assert line.strip() == b"claimed 7"
        finally:
            crashing.send_signal(signal.SIGKILL)
            await crashing.wait()

        survivor = make_worker(database)
        handler = Recorder()
        survivor.register(kind, handler)
        job = await job_row(database, job_id)
        assert job.status == "running" and job.locked_until is not None
        assert await survivor.run_pending() == 0  # the lease still holds

        wait = (job.locked_until - datetime.now(UTC)).total_seconds()
        assert 0 < wait <= 5
        await asyncio.sleep(wait + 0.3)
        assert await survivor.run_pending() == 1

        assert handler.payloads == [{"n": 7}]
        job = await job_row(database, job_id)
        assert (job.status, job.attempts) == ("done", 2)

    async def test_a_job_whose_workers_keep_dying_fails_instead_of_looping_forever(self, database, kind, make_worker):
        worker = make_worker(database, max_attempts=3)
        handler = Recorder()
        worker.register(kind, handler)
        job_id = await add_job(database, kind, {})
        await _abandoned_by_dead_workers(database, job_id, attempts=3)  # three workers died holding it

        assert await worker.run_pending() == 1
        job = await job_row(database, job_id)
        assert job.status == "failed" and "worker lost" in (job.last_error or "")
        assert handler.payloads == []

    async def test_a_long_job_keeps_its_lease_so_nobody_else_runs_it(self, database, kind, make_worker):
        runner = make_worker(database, workers=1, poll_interval_seconds=0.1, lease_seconds=5)
        other = make_worker(database)
        started, finish = asyncio.Event(), asyncio.Event()

        async def long_job(payload: dict[str, Any]) -> None:
            started.set()
            await finish.wait()

        runner.register(kind, long_job)
        other.register(kind, Recorder())
        job_id = await add_job(database, kind, {})
        await runner.start()
        await asyncio.wait_for(started.wait(), timeout=5)
        for _ in range(7):  # 7 s: longer than the 5 s lease, which the heartbeat keeps extending
            await asyncio.sleep(1)
            assert await other.run_pending() == 0
        finish.set()
        for _ in range(50):
            if (await job_row(database, job_id)).status == "done":
                break
            await asyncio.sleep(0.05)
        assert (await job_row(database, job_id)).attempts == 1

    async def test_stopping_a_worker_hands_its_unfinished_job_back_at_once(self, database, kind, make_worker):
        stopping = make_worker(database, workers=1, poll_interval_seconds=0.1)
        started = asyncio.Event()

        async def endless(payload: dict[str, Any]) -> None:
            started.set()
            await asyncio.Event().wait()

        stopping.register(kind, endless)
        job_id = await add_job(database, kind, {"n": 1})
        await stopping.start()
        await asyncio.wait_for(started.wait(), timeout=5)
        await stopping.stop()  # its stop timeout (1 s) passes with the job still running

        job = await job_row(database, job_id)
        assert (job.status, job.attempts, job.locked_until) == ("queued", 0, None)
        successor = make_worker(database)
        handler = Recorder()
        successor.register(kind, handler)
        assert await successor.run_pending() == 1 and handler.payloads == [{"n": 1}]


class TestConcurrency:
    async def test_two_workers_never_run_the_same_job(self, database, kind, make_worker):
        runs: collections.Counter[str] = collections.Counter()
        total = 40
        all_done = asyncio.Event()

        async def count(payload: dict[str, Any]) -> None:
            runs[payload["n"]] += 1
            await asyncio.sleep(0.01)
            if sum(runs.values()) >= total:
                all_done.set()

        first = make_worker(database, workers=4, poll_interval_seconds=0.05)
        second = make_worker(database, workers=4, poll_interval_seconds=0.05)
        for worker in (first, second):
            worker.register(kind, count)
        async with database.session() as session:
            for n in range(total):
                await enqueue(session, kind, {"n": str(n)})
        await first.start()
        await second.start()
        # Two more claimers racing the eight loops.
        await asyncio.gather(first.run_pending(), second.run_pending())

        await asyncio.wait_for(all_done.wait(), timeout=20)
        await asyncio.sleep(0.3)  # time for a wrongly duplicated run to show up
        assert sorted(runs) == sorted(str(n) for n in range(total))
        assert set(runs.values()) == {1}, {n: c for n, c in runs.items() if c != 1}
        async with database.session() as session:
            statuses = await session.scalars(select(Job.status).where(Job.kind == kind))
            assert set(statuses) == {"done"}
