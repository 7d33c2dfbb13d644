"""One chat request is one trace: the server span, the principal's resolution, the SQL statements, the
generation task's span with its time to first token, and the provider call with its model and attempt."""

from __future__ import annotations

from tests.factories import signed_in_user
from tests.sse import parse_events

CHAT = "/api/v1/chat"


def _ids(span):
    return span.context.trace_id, span.context.span_id


class TestOneTracePerChat:
    async def test_the_chat_request_and_its_generation_share_one_trace(self, traced):
        app, client, recorded = traced
        me = await signed_in_user(app, client)
        recorded.clear()

        response = await client.post(CHAT, json={"message": "Hello there, how are you?"}, headers=me.headers)
        assert response.status_code == 200, response.text
        assert any(e.event == "done" for e in parse_events(response.text))

        [server] = recorded.server_spans("POST /api/v1/chat")
        spans = recorded.trace_of(server)
        names = [s.name for s in spans]
        assert server.parent is None
        assert server.attributes["http.route"] == "/api/v1/chat"
        auth = next(s for s in spans if s.name == "auth.principal")
        assert auth.parent.span_id == server.context.span_id
        generation = next(s for s in spans if s.name == "chat.generation")
        assert generation.attributes["parley.model"] == "echo"
        assert generation.attributes["parley.ttft_ms"] >= 0
        assert any(event.name == "first_token" for event in generation.events)
        call = next(s for s in spans if s.name == "llm.call" and s.parent.span_id == generation.context.span_id)
        assert call.attributes["parley.model"] == "echo"
        assert call.attributes["parley.provider"] == "scripted"
        assert call.attributes["parley.attempt"] == 1
        sql = [s for s in spans if s.attributes.get("db.system") == "postgresql" or s.kind.name == "CLIENT"]
        assert sql, names
