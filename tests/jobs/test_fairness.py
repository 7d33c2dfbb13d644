"""Fairness and time budgets (issue 10, item 4): one user's jobs cannot hold every worker while another
user's job waits, and a job that runs past its budget is stopped and fails for good instead of holding a
worker (or being retried for as long again)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from parley.db import Database
from parley.jobs import enqueue
from parley.jobs.worker import TIME_BUDGET_EXCEEDED
from parley.models import Job


class Blocking:
    """A handler whose "big" jobs run until released and whose other jobs finish at once."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.release = asyncio.Event()
        self.small_done = asyncio.Event()

    async def __call__(self, payload: dict[str, Any]) -> None:
        name = payload["name"]
        self.started.append(name)
        if name.startswith("big"):
            await self.release.wait()
        else:
            self.small_done.set()
        self.finished.append(name)


async def _enqueue(database: Database, kind: str, name: str, owner: str | None) -> None:
    async with database.session() as session:
        await enqueue(session, kind, {"name": name}, owner=owner)


class TestFairness:
    async def test_another_users_small_file_does_not_wait_behind_one_users_big_ones(self, database, kind, make_worker):
        # Alice's two big uploads were queued first; with first-come-first-served they would take both
        # workers and Bob's 600-byte file would wait until one of them finished.
        await _enqueue(database, kind, "big-1", "alice")
        await _enqueue(database, kind, "big-2", "alice")
        await _enqueue(database, kind, "small", "bob")
        handler = Blocking()
        worker = make_worker(database, workers=2, poll_interval_seconds=0.1, max_running_per_owner=1)
        worker.register(kind, handler)
        await worker.start()
        try:
            await asyncio.wait_for(handler.small_done.wait(), timeout=20)
            # Bob's file is done while one of Alice's is still running and her other has not started. (Which of
            # hers goes first is not promised: two workers claiming at once may skip the row the other locked.)
            assert handler.finished == ["small"]
            assert len(handler.started) == 2 and "small" in handler.started
            assert handler.started[0] in ("big-1", "big-2")
        finally:
            handler.release.set()
        # Alice's second runs once her first is done.
        for _ in range(200):
            if sorted(handler.finished) == ["big-1", "big-2", "small"]:
                break
            await asyncio.sleep(0.05)
        assert sorted(handler.finished) == ["big-1", "big-2", "small"]

    async def test_without_a_cap_the_owner_with_fewest_running_jobs_goes_first(self, database, kind, make_worker):
        await _enqueue(database, kind, "big-1", "alice")
        await _enqueue(database, kind, "big-2", "alice")
        await _enqueue(database, kind, "small", "bob")
        handler = Blocking()
        worker = make_worker(database, workers=2, poll_interval_seconds=0.1, max_running_per_owner=0)
        worker.register(kind, handler)
        await worker.start()
        try:
            await asyncio.wait_for(handler.small_done.wait(), timeout=20)
            started_first = handler.started[:2]
            assert "small" in started_first and len(set(started_first) & {"big-1", "big-2"}) == 1
        finally:
            handler.release.set()

    async def test_jobs_without_an_owner_are_never_held_back(self, database, kind, make_worker):
        for name in ("cleanup-1", "cleanup-2", "cleanup-3"):
            await _enqueue(database, kind, name, None)
        handler = Blocking()
        worker = make_worker(database, max_running_per_owner=1)
        worker.register(kind, handler)
        assert await worker.run_pending() == 3


class TestTimeBudget:
    async def test_a_job_past_its_budget_is_stopped_and_fails_for_good_with_the_reason(
        self, database, kind, make_worker
    ):
        handler = Blocking()  # "big": runs until released, which never happens
        worker = make_worker(database, time_budget_seconds=0.5, max_attempts=5)
        heard: list[str] = []

        async def hook(payload: dict[str, Any], error: str) -> None:
            heard.append(error)

        worker.register(kind, handler, on_give_up=hook)
        await _enqueue(database, kind, "big-forever", "alice")

        assert await worker.run_pending() == 1

        assert handler.started == ["big-forever"] and handler.finished == []
        assert len(heard) == 1 and heard[0].startswith(TIME_BUDGET_EXCEEDED)
        async with database.session() as session:
            job = await session.scalar(select(Job).where(Job.kind == kind))
        assert job is not None
        # Not retried: another attempt would only hold a worker for as long again.
        assert (job.status, job.attempts, job.last_error) == ("failed", 1, heard[0])
        assert await worker.run_pending() == 0
