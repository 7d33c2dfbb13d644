"""Which requests are traced: a caller's sampled `traceparent` is continued (and always recorded); otherwise
`PARLEY_TRACING__SAMPLE_RATIO` decides."""

from __future__ import annotations

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from parley.app import create_app
from parley.config import Settings, TracingSettings
from tests.conftest import _empty_tables
from tests.factories import signed_in_user

CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
CALLER = f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-01"


class TestCallersTrace:
    async def test_a_request_with_a_traceparent_joins_the_callers_trace(self, traced):
        app, client, recorded = traced
        me = await signed_in_user(app, client)
        recorded.clear()

        response = await client.get("/api/v1/users/me", headers={**me.headers, "traceparent": CALLER})
        assert response.status_code == 200, response.text

        [server] = recorded.server_spans("GET /api/v1/users/me")
        assert format(server.context.trace_id, "032x") == CALLER_TRACE_ID
        assert format(server.parent.span_id, "016x") == CALLER_SPAN_ID


class TestSampleRatio:
    async def test_at_ratio_zero_only_requests_of_a_sampled_caller_are_recorded(self, settings: Settings):
        exporter = InMemorySpanExporter()
        sampled_out = settings.model_copy(update={"tracing": TracingSettings(sample_ratio=0.0)}, deep=True)
        app = create_app(sampled_out, span_exporter=exporter)
        async with app.router.lifespan_context(app):
            await _empty_tables(app)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                me = await signed_in_user(app, client)
                assert (await client.get("/api/v1/users/me", headers=me.headers)).status_code == 200
                assert exporter.get_finished_spans() == ()
                joined = await client.get("/api/v1/users/me", headers={**me.headers, "traceparent": CALLER})
                assert joined.status_code == 200
        names = {s.name for s in exporter.get_finished_spans()}
        assert {"GET /api/v1/users/me", "auth.principal"} <= names
        assert {format(s.context.trace_id, "032x") for s in exporter.get_finished_spans()} == {CALLER_TRACE_ID}


class TestQueryStringsStayOutOfSpans:
    async def test_the_server_span_has_no_query_string_and_the_app_still_gets_it(self, traced):
        app, client, recorded = traced
        me = await signed_in_user(app, client)
        for title in ("first", "second"):
            created = await client.post("/api/v1/conversations", json={"title": title}, headers=me.headers)
            assert created.status_code == 201, created.text
        recorded.clear()

        response = await client.get("/api/v1/conversations?limit=1&code=one-time-secret", headers=me.headers)
        assert response.status_code == 200, response.text
        assert len(response.json()["items"]) == 1

        [server] = recorded.server_spans("GET /api/v1/conversations")
        assert "one-time-secret" not in repr(dict(server.attributes))
        assert server.attributes["http.url"] == "http://testserver/api/v1/conversations"
