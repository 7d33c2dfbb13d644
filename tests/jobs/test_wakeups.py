"""Waking workers of other replicas: with RabbitMQ a job committed on one replica starts at once on another
(whose poll is a minute away); without it, or with RabbitMQ down, the outbox still gets every job run."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator

import pytest_asyncio

from parley.config import Settings
from parley.db import Database, create_engine
from parley.jobs import enqueue
from tests.jobs.test_jobs import Recorder


@pytest_asyncio.fixture(loop_scope="session")
async def other_replica_database(settings: Settings, database: Database) -> AsyncIterator[Database]:
    """The same PostgreSQL through an engine of its own, as another replica's process would have."""
    assert settings.database_url is not None
    other = Database(create_engine(settings.database_url, settings))
    yield other
    await other.dispose()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TestRabbitMQWakeup:
    async def test_a_job_committed_on_one_replica_starts_at_once_on_another(
        self, database, other_replica_database, rabbitmq_url, kind, make_worker
    ):
        exchange = f"parley-test-{uuid.uuid4().hex[:8]}"
        # Replica A serves requests only (no worker loops); replica B works, polling once a minute.
        api_replica = make_worker(database, workers=0, rabbitmq_url=rabbitmq_url, exchange=exchange)
        work_replica = make_worker(
            other_replica_database, workers=1, poll_interval_seconds=60, rabbitmq_url=rabbitmq_url, exchange=exchange
        )
        handler = Recorder()
        work_replica.register(kind, handler)
        await api_replica.start()
        await work_replica.start()
        await asyncio.sleep(0.2)  # B has looked once and now sleeps

        async with database.session() as session:
            await enqueue(session, kind, {"file_id": "f1"})

        await asyncio.wait_for(handler.ran.wait(), timeout=5)
        assert handler.payloads == [{"file_id": "f1"}]

    async def test_every_replica_is_woken_and_the_job_still_runs_once(
        self, database, other_replica_database, rabbitmq_url, kind, make_worker
    ):
        exchange = f"parley-test-{uuid.uuid4().hex[:8]}"
        first_handler, second_handler = Recorder(), Recorder()
        first = make_worker(database, workers=2, rabbitmq_url=rabbitmq_url, exchange=exchange)
        second = make_worker(other_replica_database, workers=2, rabbitmq_url=rabbitmq_url, exchange=exchange)
        first.register(kind, first_handler)
        second.register(kind, second_handler)
        await first.start()
        await second.start()

        async with database.session() as session:
            for n in range(10):
                await enqueue(session, kind, {"n": n})
        for _ in range(100):
            if len(first_handler.payloads) + len(second_handler.payloads) >= 10:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        ran = sorted(p["n"] for p in first_handler.payloads + second_handler.payloads)
        assert ran == list(range(10))


class TestWithoutRabbitMQ:
    async def test_without_rabbitmq_another_replica_only_finds_the_job_at_its_next_poll(
        self, database, other_replica_database, kind, make_worker
    ):
        """The control for the test above: the immediate start there is RabbitMQ's doing."""
        work_replica = make_worker(other_replica_database, workers=1, poll_interval_seconds=60)
        handler = Recorder()
        work_replica.register(kind, handler)
        await work_replica.start()
        await asyncio.sleep(0.2)

        async with database.session() as session:
            await enqueue(session, kind, {"n": 1})
        await asyncio.sleep(1.5)
        assert handler.payloads == []
        assert await work_replica.run_pending() == 1  # the job was there all along

    async def test_rabbitmq_down_at_start_does_not_stop_jobs_from_running(self, database, kind, make_worker):
        unreachable = f"amqp://guest:guest@127.0.0.1:{_closed_port()}/"
        worker = make_worker(database, workers=1, poll_interval_seconds=0.2, rabbitmq_url=unreachable)
        handler = Recorder()
        worker.register(kind, handler)
        await worker.start()

        async with database.session() as session:
            await enqueue(session, kind, {"n": 1})
        await asyncio.wait_for(handler.ran.wait(), timeout=5)
        assert handler.payloads == [{"n": 1}]
