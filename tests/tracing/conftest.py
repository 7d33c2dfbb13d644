"""An app whose spans go to an in-memory exporter (`create_app(..., span_exporter=...)`, the hook that stands in
for an OTLP endpoint), and helpers to read the traces it recorded."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from parley.app import create_app
from parley.config import Settings
from parley.models import File
from tests.conftest import _empty_tables


class Recorded:
    """The spans an app exported, grouped by trace."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    @property
    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def clear(self) -> None:
        self.exporter.clear()

    async def ended(self, name: str, count: int = 1) -> list[ReadableSpan]:
        """The spans called `name` once `count` of them have ended: an answer's task, or a job run by one of the
        app's own workers, ends its span a moment after the client saw the end of its work."""
        deadline = time.monotonic() + 30
        while len(found := [s for s in self.spans if s.name == name]) < count:
            assert time.monotonic() < deadline, (name, [s.name for s in self.spans])
            await asyncio.sleep(0.02)
        return found

    def server_spans(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name == name and s.kind.name == "SERVER"]

    def trace_of(self, span: ReadableSpan) -> list[ReadableSpan]:
        assert span.context is not None
        return [s for s in self.spans if s.context is not None and s.context.trace_id == span.context.trace_id]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def traced_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, Recorded]]:
    exporter = InMemorySpanExporter()
    application = create_app(settings, span_exporter=exporter)
    async with application.router.lifespan_context(application):
        yield application, Recorded(exporter)


@pytest_asyncio.fixture(loop_scope="session")
async def traced(traced_app: tuple[FastAPI, Recorded]) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, Recorded]]:
    app, recorded = traced_app
    await _empty_tables(app)
    recorded.clear()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield app, http, recorded


FACT = "The Zephyr-7 cooling unit must be serviced every 41 days by the facilities team in Building K."


async def upload(client: httpx.AsyncClient, headers: dict[str, str], filename: str, text: str, **form: str) -> str:
    response = await client.post(
        "/api/v1/chat/upload", files={"file": (filename, text.encode(), "text/plain")}, data=form, headers=headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def wait_ready(app: FastAPI, *file_ids: str) -> None:
    """Run the due jobs (ingestion) until these files are ready; the app's own workers may take some of them."""
    ids = [uuid.UUID(file_id) for file_id in file_ids]
    deadline = time.monotonic() + 180
    while True:
        await app.state.jobs.run_pending()
        async with app.state.database.session() as session:
            statuses = list(await session.scalars(select(File.status).where(File.id.in_(ids))))
        if statuses and all(status == "ready" for status in statuses):
            return
        assert "failed" not in statuses and time.monotonic() < deadline, statuses
        await asyncio.sleep(0.1)
