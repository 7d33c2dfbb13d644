"""Gauges read from state rather than counted as things happen: the database pool, the job queue and the
models' circuit breakers, refreshed by one task of the app's lifespan every `metrics.refresh_seconds` (in
multiprocess mode a scrape cannot call into the processes, so each process keeps its gauges current)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import QueuePool

from parley.db import Database
from parley.jobs import outbox
from parley.llm.router import Router
from parley.metrics.instruments import (
    DB_POOL_CONNECTIONS,
    DB_POOL_SIZE,
    JOBS_OLDEST_AGE,
    JOBS_QUEUED,
    PROVIDER_CIRCUIT_OPEN,
)

_logger = structlog.get_logger("parley.metrics")


class StateCollector:
    """Keeps the state gauges current. `refresh()` once, or `start()` a task doing it every `interval`."""

    def __init__(
        self,
        database: Database,
        *,
        router: Router | None,
        job_kinds: Iterable[str],
        interval: float,
        max_overflow: int,
    ) -> None:
        self.database = database
        self.router = router
        self.interval = interval
        self._max_overflow = max_overflow
        # Kinds that get a 0 when nothing of theirs waits (a gauge left at its last value would alert forever).
        self._kinds = set(job_kinds)
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        self.refresh_pool()
        self.refresh_circuits()
        await self.refresh_jobs()

    def refresh_pool(self) -> None:
        pool = self.database.engine.sync_engine.pool
        if not isinstance(pool, QueuePool):
            return
        in_use = pool.checkedout()
        DB_POOL_CONNECTIONS.labels(state="in_use").set(in_use)
        DB_POOL_CONNECTIONS.labels(state="idle").set(pool.checkedin())
        DB_POOL_SIZE.set(pool.size() + self._max_overflow)

    def refresh_circuits(self) -> None:
        if self.router is None:
            return
        for name in self.router.registry.names:
            PROVIDER_CIRCUIT_OPEN.labels(model=name).set(1 if self.router.breaker(name).is_open else 0)

    async def refresh_jobs(self) -> None:
        async with self.database.session() as session:
            depths = await outbox.queue_depths(session)
        seen = set()
        for depth in depths:
            seen.add(depth.kind)
            JOBS_QUEUED.labels(kind=depth.kind).set(depth.queued)
            JOBS_OLDEST_AGE.labels(kind=depth.kind).set(depth.oldest_age_seconds)
        for kind in self._kinds - seen:
            JOBS_QUEUED.labels(kind=kind).set(0)
            JOBS_OLDEST_AGE.labels(kind=kind).set(0)
        self._kinds |= seen

    def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_forever(), name="metrics-state-collector")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _refresh_forever(self) -> None:
        while True:
            try:
                await self.refresh()
            except (SQLAlchemyError, OSError) as exc:  # the database is away: the gauges wait for the next round
                _logger.warning("metrics_refresh_failed", error=str(exc))
            await asyncio.sleep(self.interval)
