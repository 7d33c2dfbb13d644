from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from fastapi import FastAPI

from parley.config import JobSettings
from parley.db import Database
from parley.jobs import JobWorker


@pytest_asyncio.fixture(loop_scope="session")
async def database(app: FastAPI, client: object) -> Database:
    """The test database (its tables emptied by `client`)."""
    db: Database = app.state.database
    return db


@pytest.fixture
def kind() -> str:
    """A job kind of this test alone: the app's own worker never claims it."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest_asyncio.fixture(loop_scope="session")
async def make_worker() -> AsyncIterator[Callable[..., JobWorker]]:
    """Build workers (stopped at the end of the test); settings are JobSettings fields."""
    made: list[JobWorker] = []

    def build(
        database: Database, *, rabbitmq_url: str | None = None, exchange: str = "parley.jobs", **settings: object
    ) -> JobWorker:
        options: dict[str, object] = {"workers": 0, "poll_interval_seconds": 60, "lease_seconds": 5, "max_attempts": 3}
        options.update(settings)
        worker = JobWorker(
            database,
            JobSettings.model_validate(options),
            rabbitmq_url=rabbitmq_url,
            exchange=exchange,
            retry_base_seconds=30,
            stop_timeout_seconds=1,
        )
        made.append(worker)
        return worker

    yield build
    for worker in made:
        await worker.stop()
