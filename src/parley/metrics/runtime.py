"""How an app gets its metrics: `install` (the /metrics route and the HTTP middleware, when the app is built)
and `MetricsRuntime` (what runs with the app's lifespan: the state gauges' refresh, the internal port)."""

from __future__ import annotations

from collections.abc import Iterable

import anyio.to_thread
from fastapi import FastAPI
from starlette.routing import Route

from parley.config import Settings
from parley.db import Database
from parley.llm.router import Router
from parley.metrics.collectors import StateCollector
from parley.metrics.exposition import METRICS_PATH, InternalMetricsServer, MetricsEndpoint
from parley.metrics.http import HttpMetricsMiddleware
from parley.metrics.instruments import set_build_info
from parley.metrics.multiprocess import forget_process


def install(app: FastAPI, settings: Settings) -> None:
    """Add `GET /metrics` (outside the OpenAPI schema; not on the main port when an internal one is set) and
    the HTTP metrics middleware, outermost, so it times every request, refusals of the other middleware too.
    Call it last, after every other middleware."""
    set_build_info(region=settings.region)
    if settings.metrics.port is None:
        endpoint = MetricsEndpoint(settings.metrics, settings.prometheus_multiproc_dir)
        # First: before the web app's catch-all mount.
        app.router.routes.insert(0, Route(METRICS_PATH, endpoint.respond, methods=["GET"], include_in_schema=False))
    app.add_middleware(HttpMetricsMiddleware)


class MetricsRuntime:
    """The metrics' part of the lifespan: started once the database, models and jobs are, stopped first."""

    def __init__(self, settings: Settings, database: Database, router: Router, *, job_kinds: Iterable[str]) -> None:
        self.settings = settings
        self.collector = StateCollector(
            database,
            router=router,
            job_kinds=job_kinds,
            interval=settings.metrics.refresh_seconds,
            max_overflow=settings.database.max_overflow,
        )
        self.internal: InternalMetricsServer | None = None
        metrics = settings.metrics
        if metrics.port is not None and not metrics.port_served_by_supervisor:
            host = metrics.host or settings.host
            self.internal = InternalMetricsServer(host, metrics.port, settings.prometheus_multiproc_dir)

    async def start(self) -> None:
        self.collector.start()
        if self.internal is not None:
            self.internal.start()

    async def stop(self) -> None:
        if self.internal is not None:
            # Its shutdown waits for the server thread's next poll: not on the event loop.
            await anyio.to_thread.run_sync(self.internal.stop)
        await self.collector.stop()
        # This process's live gauges (requests, streams, pool) leave the server's totals with it.
        forget_process(self.settings.prometheus_multiproc_dir)
