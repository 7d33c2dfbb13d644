"""What /metrics shows of sign-ins, security events, ingestion, the job queue and the database pool."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete, func, update

from parley.auth.permissions import Role
from parley.ingestion.tasks import IngestionTask
from parley.jobs import enqueue
from parley.models import Job
from tests.auth.test_refresh import _past_the_grace_window, _refresh
from tests.factories import PASSWORD, signed_in_user
from tests.ingestion import documents
from tests.ingestion.stored import pending_file
from tests.metrics.scrape import Scrape, scrape


def _delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


class TestSignIns:
    async def test_failed_sign_ins_and_refused_credentials_are_counted_by_method(self, client, app):
        me = await signed_in_user(app, client)
        before = await scrape(client)
        wrong = await client.post("/api/v1/auth/login", json={"email": me.email, "password": PASSWORD + "x"})
        assert wrong.status_code == 401
        bad_key = await client.get("/api/v1/users/me", headers={"Authorization": "Bearer pk-not-a-real-key"})
        assert bad_key.status_code == 401

        after = await scrape(client)
        assert _delta(before, after, "parley_sign_in_failures_total", method="password") == 1
        assert _delta(before, after, "parley_sign_in_failures_total", method="api_key") == 1
        assert _delta(before, after, "parley_errors_total", code="unauthorized") == 2

    async def test_refresh_token_reuse_and_forbidden_requests_are_security_events(self, client, app, session):
        me = await signed_in_user(app, client)
        await _refresh(client, me.refresh_token)
        await _past_the_grace_window(app, session, me.id)
        before = await scrape(client)
        assert (await _refresh(client, me.refresh_token)).status_code == 401
        other = await signed_in_user(app, client, role=Role.USER)
        assert (await client.get("/api/v1/admin/users", headers=other.headers)).status_code == 403

        after = await scrape(client)
        assert _delta(before, after, "parley_security_events_total", kind="refresh_token_reuse") == 1
        assert _delta(before, after, "parley_security_events_total", kind="forbidden") == 1


class TestIngestion:
    async def test_documents_are_counted_by_outcome_with_their_bytes_and_time(self, client, app):
        task = IngestionTask(app.state.database, app.state.storage, app.state.embedder, app.state.settings)
        data = documents.pdf(["Vacation. Every employee gets 28 days of paid vacation per year."])
        readable = await pending_file(app, data, "pdf")
        unreadable = await pending_file(app, documents.image_only_pdf(), "pdf")
        before = await scrape(client)
        await task({"file_id": str(readable.id)})
        await task({"file_id": str(unreadable.id)})

        after = await scrape(client)
        assert _delta(before, after, "parley_ingestion_documents_total", outcome="ready") == 1
        assert _delta(before, after, "parley_ingestion_documents_total", outcome="failed") == 1
        assert _delta(before, after, "parley_ingestion_bytes_total") == len(data)
        assert _delta(before, after, "parley_ingestion_duration_seconds_count") == 2


class TestStateGauges:
    async def test_the_queue_shows_waiting_jobs_and_the_age_of_the_oldest(self, client, app):
        kind = f"metrics-test-{uuid.uuid4().hex[:8]}"  # no worker handles it: it waits
        async with app.state.database.session() as session:
            job_id = await enqueue(session, kind, {})
            await enqueue(session, kind, {})
            await session.execute(
                update(Job).where(Job.id == job_id).values(run_after=func.now() - timedelta(seconds=120))
            )
        await app.state.metrics.collector.refresh()
        waiting = await scrape(client)
        assert waiting.value("parley_jobs_queued", kind=kind) == 2
        assert 120 <= waiting.value("parley_jobs_oldest_age_seconds", kind=kind) < 180

        async with app.state.database.session() as session:
            await session.execute(delete(Job).where(Job.kind == kind))
        await app.state.metrics.collector.refresh()
        drained = await scrape(client)
        assert drained.value("parley_jobs_queued", kind=kind) == 0
        assert drained.value("parley_jobs_oldest_age_seconds", kind=kind) == 0

    async def test_the_database_pool_shows_its_size_and_use(self, client, app):
        await app.state.metrics.collector.refresh()
        pool = await scrape(client)
        settings = app.state.settings.database
        assert pool.value("parley_db_pool_size") == settings.pool_size + settings.max_overflow
        in_use = pool.value("parley_db_pool_connections", state="in_use")
        idle = pool.value("parley_db_pool_connections", state="idle")
        assert in_use >= 0 and idle >= 1 and in_use + idle <= settings.pool_size + settings.max_overflow
