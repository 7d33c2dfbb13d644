"""A job enqueued by a request runs in a trace of its own, linked to the request's: from the upload's trace one
finds the ingestion that followed, however long after it ran."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select

from parley import tracing
from parley.jobs.outbox import enqueue
from parley.models import Job
from tests.factories import signed_in_user
from tests.tracing.conftest import FACT, upload, wait_ready


class TestJobsLinkToTheirRequest:
    async def test_the_ingestion_of_an_upload_links_to_the_upload_request(self, traced):
        app, client, recorded = traced
        me = await signed_in_user(app, client)
        recorded.clear()

        file_id = await upload(client, me.headers, "facilities.txt", FACT)
        [request] = recorded.server_spans("POST /api/v1/chat/upload")
        await wait_ready(app, file_id)

        [job] = await recorded.ended("job ingest_file")
        assert job.parent is None and job.kind.name == "CONSUMER"
        assert job.context.trace_id != request.context.trace_id
        assert [(link.context.trace_id, link.context.span_id) for link in job.links] == [
            (request.context.trace_id, request.context.span_id)
        ]
        assert job.attributes["parley.job.kind"] == "ingest_file"
        # The handler's work (its SQL) is in the job's trace.
        assert any(s.parent is not None and s.parent.span_id == job.context.span_id for s in recorded.trace_of(job))

    async def test_the_handler_never_sees_the_trace_parent(self, traced):
        app, _, _ = traced
        seen: list[dict] = []

        async def handler(payload: dict) -> None:
            seen.append(payload)

        kind = f"probe-{uuid.uuid4().hex[:6]}"
        app.state.jobs.register(kind, handler)

        async def enqueue_in_request(payload: dict) -> None:
            async with app.state.database.session() as session:
                await enqueue(session, kind, payload)

        # Enqueued inside a recorded span (a request's): the stored payload carries the traceparent...
        with tracing.span("a request"):
            await enqueue_in_request({"n": 1})
        async with app.state.database.session() as session:
            stored = (await session.scalars(select(Job.payload).where(Job.kind == kind))).one()
        assert set(stored) == {"n", "_traceparent"}
        # ...which the handler does not get.
        for _ in range(100):
            await app.state.jobs.run_pending()
            if seen:
                break
            await asyncio.sleep(0.05)
        assert seen == [{"n": 1}]

    async def test_a_failing_job_has_a_failed_span(self, traced):
        app, _, recorded = traced

        async def handler(payload: dict) -> None:
            raise ValueError("the file is not readable")

        kind = f"failing-{uuid.uuid4().hex[:6]}"
        app.state.jobs.register(kind, handler)
        recorded.clear()
        async with app.state.database.session() as session:
            await enqueue(session, kind, {})
        # Run here, or by one of the app's own workers (woken by the commit).
        for _ in range(100):
            await app.state.jobs.run_pending()
            if jobs := [s for s in recorded.spans if s.name == f"job {kind}"]:
                break
            await asyncio.sleep(0.05)
        [job] = jobs
        assert job.status.status_code.name == "ERROR" and "not readable" in job.status.description
        assert [e.attributes["exception.type"] for e in job.events if e.name == "exception"] == ["ValueError"]


class TestBackgroundPollingMakesNoTraces:
    async def test_a_poll_of_the_outbox_and_a_sweep_outside_any_request_record_nothing(self, traced):
        app, _, recorded = traced
        recorded.clear()
        assert await app.state.jobs.run_pending() == 0
        await app.state.chat_engine.sweep_interrupted()
        assert recorded.spans == []
