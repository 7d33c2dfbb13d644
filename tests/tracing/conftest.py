"""An app whose spans go to an in-memory exporter (`create_app(..., span_exporter=...)`, the hook that stands in
for an OTLP endpoint), and helpers to read the traces it recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from parley.app import create_app
from parley.config import Settings
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
