"""Tracing switched off (PARLEY_TRACING__ENABLED=false, or no endpoint): nothing is recorded or sent, even for a
request that arrives with a sampled `traceparent`, and jobs carry no trace parent."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from parley.app import create_app
from parley.config import Settings, TracingSettings
from parley.models import Job
from parley.tracing.asgi import ServerSpans
from tests.conftest import _empty_tables
from tests.factories import signed_in_user
from tests.tracing.conftest import FACT, upload
from tests.tracing.receiver import otlp_receiver

CALLER_TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class TestTracingOff:
    async def test_nothing_reaches_the_collector_and_jobs_carry_no_trace(self, settings: Settings):
        with otlp_receiver() as receiver:
            off = settings.model_copy(
                update={"tracing": TracingSettings(enabled=False, otlp_endpoint=receiver.url)}, deep=True
            )
            app = create_app(off)
            assert not any(m.cls is ServerSpans for m in app.user_middleware)
            async with app.router.lifespan_context(app):
                await _empty_tables(app)
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                    me = await signed_in_user(app, client)
                    headers = {**me.headers, "traceparent": CALLER_TRACE}
                    chat = await client.post(
                        "/api/v1/chat", json={"message": "Hello", "stream": False}, headers=headers
                    )
                    assert chat.status_code == 200, chat.text
                    await upload(client, headers, "facilities.txt", FACT)
                async with app.state.database.session() as session:
                    payloads = list(await session.scalars(select(Job.payload)))
            # The app has stopped: anything queued would have been sent by now.
        assert payloads and not [p for p in payloads if "_traceparent" in p]
        assert receiver.spans == [] and receiver.headers == []
