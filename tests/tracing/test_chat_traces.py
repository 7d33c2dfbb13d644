"""One chat request is one trace: the server span, the principal's resolution, the SQL statements, the
generation task's span with its time to first token, and the provider call with its model and attempt."""

from __future__ import annotations

from tests.factories import signed_in_user
from tests.sse import parse_events
from tests.tracing.conftest import FACT, upload, wait_ready

CHAT = "/api/v1/chat"
KBS = "/api/v1/knowledge-bases"


class TestOneTracePerChat:
    async def test_the_chat_request_and_its_generation_share_one_trace(self, traced):
        app, client, recorded = traced
        me = await signed_in_user(app, client)
        recorded.clear()

        response = await client.post(CHAT, json={"message": "Hello there, how are you?"}, headers=me.headers)
        assert response.status_code == 200, response.text
        assert any(e.event == "done" for e in parse_events(response.text))

        await recorded.ended("chat.generation")
        [server] = recorded.server_spans("POST /api/v1/chat")
        spans = recorded.trace_of(server)
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
        # The principal's lookup, and the answer's saving, are SQL spans under their own steps.
        sql = [s for s in spans if s.kind.name == "CLIENT" and s.attributes.get("db.statement")]
        assert any(s.parent.span_id == auth.context.span_id for s in sql)
        assert any(s.parent.span_id == generation.context.span_id for s in sql)


class TestKnowledgeBaseChat:
    async def test_the_search_of_the_knowledge_base_is_a_span_of_the_answer(self, traced):
        app, client, recorded = traced
        me = await signed_in_user(app, client)
        kb = (await client.post(KBS, json={"name": "Facilities"}, headers=me.headers)).json()
        file_id = await upload(client, me.headers, "facilities.txt", FACT, knowledge_base_id=kb["id"])
        await wait_ready(app, file_id)
        recorded.clear()

        question = {"message": "Zephyr-7 service interval?", "knowledge_base_ids": [kb["id"]], "stream": False}
        response = await client.post(CHAT, json=question, headers=me.headers)
        assert response.status_code == 200, response.text
        assert response.json()["citations"], response.json()

        await recorded.ended("chat.generation")
        [server] = recorded.server_spans("POST /api/v1/chat")
        spans = recorded.trace_of(server)
        generation = next(s for s in spans if s.name == "chat.generation")
        [search] = [s for s in spans if s.name == "retrieval.search"]
        assert search.parent.span_id == generation.context.span_id
        assert search.attributes["parley.chunks"] >= 1
        # Its SQL is inside it.
        assert any(s.parent is not None and s.parent.span_id == search.context.span_id for s in spans)


class TestRetriesAndFallbacks:
    async def test_each_attempt_is_a_call_span_and_the_fallback_says_so(self, traced):
        app, client, recorded = traced
        me = await signed_in_user(app, client)
        recorded.clear()

        response = await client.post(CHAT, json={"message": "Hello", "model": "failing"}, headers=me.headers)
        assert response.status_code == 200, response.text
        assert any(e.event == "fallback" for e in parse_events(response.text))

        await recorded.ended("chat.generation")
        [server] = recorded.server_spans("POST /api/v1/chat")
        calls = sorted(
            (
                s
                for s in recorded.trace_of(server)
                if s.name == "llm.call" and s.attributes["parley.requested_model"] == "failing"
            ),
            key=lambda s: s.start_time,
        )
        assert [
            (c.attributes["parley.model"], c.attributes["parley.attempt"], c.attributes["parley.fallback"])
            for c in calls
        ] == [
            ("failing", 1, False),
            ("failing", 2, False),
            ("echo", 1, True),
        ]
        assert [c.status.status_code.name for c in calls] == ["ERROR", "ERROR", "UNSET"]
        # The failure is recorded once per attempt.
        assert [len([e for e in c.events if e.name == "exception"]) for c in calls] == [1, 1, 0]
        assert any(e.name == "first_token" for e in calls[2].events)
