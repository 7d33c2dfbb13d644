"""Chatting: the answer streams in as numbered events, and nothing is lost when something goes wrong."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
from sqlalchemy import func, select, update

from parley.crypto import content as sealed
from parley.models import Conversation, Message, UsageLog
from tests.factories import assert_problem, signed_in_user
from tests.sse import answer_text, collect, parse_events

CHAT = "/api/v1/chat"


async def _chat(client, headers, **body):
    response = await client.post(CHAT, json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return parse_events(response.text)


class TestStreaming:
    async def test_events_in_order_with_ids_and_everything_saved(self, client, app, session):
        me = await signed_in_user(app, client)
        events = await _chat(client, me.headers, message="Hello there, how are you?")

        assert events[0].event == "message"
        assert events[-1].event in ("done", "title")
        assert [int(e.id) for e in events] == list(range(1, len(events) + 1))
        first = events[0].data
        assert answer_text(events) == "Hello there, how are you?"
        done = next(e for e in events if e.event == "done").data
        assert done["finish_reason"] == "stop" and done["model"] == "echo"
        assert done["usage"]["completion_tokens"] == 5 and done["usage"]["prompt_tokens"] > 5
        expected_cost = (done["usage"]["prompt_tokens"] * 0.5 + 5 * 1.5) / 1000
        assert abs(float(done["cost"]) - expected_cost) < 1e-9

        conversation_id = uuid.UUID(first["conversation_id"])
        messages = (
            await session.scalars(
                select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq)
            )
        ).all()
        assert [(m.role, m.content, m.finish_reason) for m in messages] == [
            ("user", "Hello there, how are you?", None),
            ("assistant", "Hello there, how are you?", "stop"),
        ]
        assert str(messages[1].id) == first["assistant_message_id"] == done["message_id"]
        usage = (
            await session.scalars(select(UsageLog).where(UsageLog.user_id == me.id, UsageLog.ttft_ms.is_not(None)))
        ).all()
        assert len(usage) == 1 and usage[0].model == "echo" and usage[0].completion_tokens == 5
        assert usage[0].latency_ms is not None

    async def test_a_title_is_generated_after_the_first_exchange_and_its_tokens_are_counted(self, client, app, session):
        me = await signed_in_user(app, client)
        events = await _chat(client, me.headers, message="Plan a team offsite in Lisbon")
        title = next(e for e in events if e.event == "title").data
        conversation = await client.get(f"/api/v1/conversations/{title['conversation_id']}", headers=me.headers)
        assert conversation.json()["title"] == title["title"] != "New chat"
        # Two rows for the one answer: the answer itself, then the title the same model wrote for it.
        done = next(e for e in events if e.event == "done").data
        rows = (
            await session.scalars(
                select(UsageLog).where(UsageLog.message_id == uuid.UUID(done["message_id"])).order_by(UsageLog.ttft_ms)
            )
        ).all()
        assert len(rows) == 2 and {r.model for r in rows} == {"echo"}
        answer_row, title_row = rows
        assert answer_row.ttft_ms is not None and title_row.ttft_ms is None
        assert title_row.prompt_tokens > 0 and title_row.completion_tokens > 0 and title_row.cost_usd > 0
        report = (await client.get("/api/v1/users/me/usage", headers=me.headers)).json()
        assert report["total"]["completion_tokens"] == answer_row.completion_tokens + title_row.completion_tokens
        # The second exchange leaves the title alone.
        more = await _chat(client, me.headers, message="And in Porto?", conversation_id=title["conversation_id"])
        assert not [e for e in more if e.event == "title"]

    async def test_follow_up_sees_the_history(self, client, app):
        me = await signed_in_user(app, client)
        first = await _chat(client, me.headers, message="first question")
        conversation_id = first[0].data["conversation_id"]
        second = await _chat(client, me.headers, message="second question", conversation_id=conversation_id)
        done = next(e for e in second if e.event == "done").data
        first_done = next(e for e in first if e.event == "done").data
        assert done["usage"]["prompt_tokens"] > first_done["usage"]["prompt_tokens"]
        detail = (await client.get(f"/api/v1/conversations/{conversation_id}", headers=me.headers)).json()
        assert [m["role"] for m in detail["messages"]] == ["user", "assistant", "user", "assistant"]

    async def test_not_streaming_returns_one_json_body(self, client, app):
        me = await signed_in_user(app, client)
        response = await client.post(CHAT, json={"message": "just the answer", "stream": False}, headers=me.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["content"] == "just the answer" and body["finish_reason"] == "stop"
        assert body["usage"]["completion_tokens"] == 3

    async def test_unknown_model_is_404_and_nothing_is_saved(self, client, app, session):
        me = await signed_in_user(app, client)
        response = await client.post(CHAT, json={"message": "hi", "model": "gpt-17"}, headers=me.headers)
        assert "gpt-17" in assert_problem(response, 404)["detail"]
        count = await session.scalar(select(Conversation.id).where(Conversation.user_id == me.id))
        assert count is None

    async def test_another_users_conversation_is_404(self, client, app):
        alice = await signed_in_user(app, client)
        bob = await signed_in_user(app, client)
        theirs = (await _chat(client, alice.headers, message="secret"))[0].data["conversation_id"]
        response = await client.post(CHAT, json={"message": "hi", "conversation_id": theirs}, headers=bob.headers)
        assert_problem(response, 404)

    async def test_max_tokens_gives_finish_length(self, client, app):
        me = await signed_in_user(app, client)
        events = await _chat(client, me.headers, message="one two three four five six", max_tokens=2)
        done = next(e for e in events if e.event == "done").data
        assert answer_text(events) == "one two" and done["finish_reason"] == "length"


class TestFailures:
    async def test_failing_model_falls_back_before_any_token(self, client, app, session):
        me = await signed_in_user(app, client)
        events = await _chat(client, me.headers, message="are you there", model="failing")
        kinds = [e.event for e in events]
        assert "fallback" in kinds and kinds.index("fallback") < kinds.index("delta")
        fallback = next(e for e in events if e.event == "fallback").data
        assert fallback["from_model"] == "failing" and fallback["model"] == "echo"
        assert next(e for e in events if e.event == "done").data["model"] == "echo"
        assert answer_text(events) == "are you there"
        # The refused attempts (500 before any token) were never billed: only the answering model is spend.
        models = (await session.scalars(select(UsageLog.model).where(UsageLog.user_id == me.id))).all()
        assert set(models) == {"echo"}

    async def test_stream_broken_midway_continues_on_the_fallback_as_one_answer(self, client, app, session):
        me = await signed_in_user(app, client)
        events = await _chat(client, me.headers, message="count please", model="dropping")
        kinds = [e.event for e in events]
        assert kinds.count("fallback") == 1 and kinds.index("delta") < kinds.index("fallback")
        assert answer_text(events) == "one two three" + "the cheap answer"
        done = next(e for e in events if e.event == "done").data
        stored = await session.get(Message, uuid.UUID(done["message_id"]))
        assert stored.content == answer_text(events) and stored.model == "cheap"
        models = (await session.scalars(select(UsageLog.model).where(UsageLog.user_id == me.id))).all()
        # The abandoned attempt, the answer, and the title (written by the model that answered).
        assert sorted(models) == ["cheap", "cheap", "dropping"]

    async def test_a_silent_model_times_out_and_falls_back(self, client, app):
        me = await signed_in_user(app, client)
        events = await _chat(client, me.headers, message="hello?", model="hanging")
        assert next(e for e in events if e.event == "fallback").data["model"] == "echo"
        assert answer_text(events) == "hello?"

    async def test_no_model_left_gives_an_error_event_and_keeps_the_question(self, client, app, session):
        me = await signed_in_user(app, client)
        events = await _chat(client, me.headers, message="anyone?", model="broken-only")
        error = events[-1]
        assert error.event == "error" and error.data["problem"]["status"] == 502
        conversation_id = uuid.UUID(events[0].data["conversation_id"])
        messages = (await session.scalars(select(Message).where(Message.conversation_id == conversation_id))).all()
        assert {(m.role, m.finish_reason) for m in messages} == {("user", None), ("assistant", "error")}

    async def test_circuit_opens_after_repeated_failures(self, client, app):
        me = await signed_in_user(app, client)
        for _ in range(3):
            await _chat(client, me.headers, message="x", model="broken-only")
        assert app.state.router.breaker("broken-only").is_open
        events = await _chat(client, me.headers, message="x", model="broken-only")
        assert "circuit open" in events[-1].data["problem"]["detail"]

    async def test_message_too_long_for_the_context_window(self, client, app):
        me = await signed_in_user(app, client)
        events = await _chat(client, me.headers, message="word " * 400, model="tiny")
        assert events[-1].event == "error" and events[-1].data["problem"]["status"] == 413


class TestContext:
    async def test_old_turns_are_summarised_when_the_window_is_full(self, client, app, session):
        me = await signed_in_user(app, client)
        conversation_id = None
        for n in range(6):
            body = {"message": f"turn {n} " + "filler " * 40, "model": "tiny"}
            if conversation_id:
                body["conversation_id"] = conversation_id
            events = await _chat(client, me.headers, **body)
            conversation_id = events[0].data["conversation_id"]
            assert events[-1].event in ("done", "title"), events[-1]
        conversation = await session.get(Conversation, uuid.UUID(conversation_id))
        assert conversation.summary and conversation.summary_through_message_id is not None
        # Summarising cost tokens: each summary is a usage row of its own beside its answer's.
        answers = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.conversation_id == conversation.id, Message.role == "assistant")
        )
        rows = await session.scalar(
            select(func.count()).select_from(UsageLog).where(UsageLog.conversation_id == conversation.id)
        )
        assert rows > answers + 1  # + 1: the title


class TestTitles:
    """A conversation keeps "New chat" only until an answer in it ends, however that answer ended."""

    async def test_a_stopped_first_answer_still_titles_the_conversation(self, client, app):
        me = await signed_in_user(app, client)
        question = "Compare these " + " ".join(f"w{n}" for n in range(200))
        stream = asyncio.create_task(client.post(CHAT, json={"message": question, "model": "slow"}, headers=me.headers))
        await asyncio.sleep(0.5)
        run = next(iter(app.state.chat_engine.runs.active()))
        stopped = await client.post(f"{CHAT}/{run.conversation_id}/stop", headers=me.headers)
        assert stopped.status_code == 200 and stopped.json()["finish_reason"] == "cancelled"
        events = parse_events((await stream).text)
        assert next(e for e in events if e.event == "done").data["finish_reason"] == "cancelled"
        title = next(e for e in events if e.event == "title").data
        conversation = await client.get(f"/api/v1/conversations/{run.conversation_id}", headers=me.headers)
        assert conversation.json()["title"] == title["title"] != "New chat"

    async def test_an_interrupted_first_answer_leaves_the_title_to_the_next_answer(self, client, app, session):
        me = await signed_in_user(app, client)
        created = await client.post("/api/v1/conversations", json={}, headers=me.headers)
        conversation_id = uuid.UUID(created.json()["id"])
        # What a crash mid-answer leaves: the question, and the answer up to its last checkpoint.
        session.add(Message(conversation_id=conversation_id, role="user", content="What is pgvector?", extra={}))
        await session.flush()
        session.add(
            Message(
                conversation_id=conversation_id,
                role="assistant",
                content="pgvector is",
                finish_reason="interrupted",
                extra={},
            )
        )
        await session.commit()
        events = await _chat(
            client, me.headers, message="Go on about pgvector please", conversation_id=str(conversation_id)
        )
        title = next(e for e in events if e.event == "title").data
        conversation = await client.get(f"/api/v1/conversations/{conversation_id}", headers=me.headers)
        assert conversation.json()["title"] == title["title"] != "New chat"


class TestStopAndResume:
    """On both twins (`twin`): in-process, and on Redis, where every event is also relayed."""

    async def test_stop_keeps_the_partial_answer(self, twin, session):
        me = await signed_in_user(twin.app, twin.client)
        long_message = " ".join(f"w{n}" for n in range(200))
        stream = asyncio.create_task(
            twin.client.post(CHAT, json={"message": long_message, "model": "slow"}, headers=me.headers)
        )
        # Stop once the answer has begun (a loaded machine can take longer than half a second to its first word).
        async with asyncio.timeout(10):
            while not (runs := list(twin.app.state.chat_engine.runs.active())) or not any(
                b"event: delta" in event for event in runs[0].events
            ):
                await asyncio.sleep(0.05)
        run = runs[0]
        started = asyncio.get_running_loop().time()
        stopped = await twin.client.post(f"{CHAT}/{run.conversation_id}/stop", headers=me.headers)
        assert asyncio.get_running_loop().time() - started < 1.0
        assert stopped.status_code == 200 and stopped.json()["finish_reason"] == "cancelled"
        events = parse_events((await stream).text)
        done = next(e for e in events if e.event == "done").data
        assert done["finish_reason"] == "cancelled"
        partial = answer_text(events)
        assert 0 < len(partial) < len(long_message)
        assert stopped.json()["content"] == partial
        stored = await session.get(Message, run.message_id)
        assert stored.content == partial and stored.finish_reason == "cancelled"

    async def test_stop_when_nothing_runs_reports_the_last_answer(self, twin):
        me = await signed_in_user(twin.app, twin.client)
        events = await _chat(twin.client, me.headers, message="all done")
        conversation_id = events[0].data["conversation_id"]
        stopped = await twin.client.post(f"{CHAT}/{conversation_id}/stop", headers=me.headers)
        assert stopped.status_code == 200
        assert stopped.json()["finish_reason"] == "stop" and stopped.json()["content"] == "all done"

    async def test_a_second_message_while_answering_is_409(self, twin):
        me = await signed_in_user(twin.app, twin.client)
        stream = asyncio.create_task(
            twin.client.post(CHAT, json={"message": "a " * 100, "model": "slow"}, headers=me.headers)
        )
        await asyncio.sleep(0.3)
        run = next(iter(twin.app.state.chat_engine.runs.active()))
        again = await twin.client.post(
            CHAT, json={"message": "hurry", "conversation_id": str(run.conversation_id)}, headers=me.headers
        )
        assert_problem(again, 409)
        await twin.client.post(f"{CHAT}/{run.conversation_id}/stop", headers=me.headers)
        await stream

    async def test_disconnect_then_resume_with_last_event_id(self, twin):
        me = await signed_in_user(twin.app, twin.client)
        text = " ".join(f"t{n}" for n in range(40))
        async with httpx.AsyncClient(base_url=twin.live_url, timeout=10) as http:
            seen = ""
            async with http.stream(
                "POST", CHAT, json={"message": text, "model": "slow"}, headers=me.headers
            ) as response:
                async for chunk in response.aiter_text():
                    seen += chunk
                    if seen.count("event: delta") >= 5:
                        break
            before = parse_events(seen.rsplit("\n\n", 1)[0] + "\n\n")
            conversation_id = before[0].data["conversation_id"]
            last_id = before[-1].id
            await asyncio.sleep(0.2)  # a network blip, shorter than the grace period
            async with http.stream(
                "GET", f"{CHAT}/{conversation_id}/stream", headers={**me.headers, "Last-Event-ID": last_id}
            ) as response:
                after = await collect(response)
        assert int(after[0].id) == int(last_id) + 1
        assert answer_text(before) + answer_text(after) == text
        assert next(e for e in after if e.event == "done").data["finish_reason"] == "stop"

    async def test_resume_after_the_end_replays_the_rest_and_stops(self, twin):
        me = await signed_in_user(twin.app, twin.client)
        events = await _chat(twin.client, me.headers, message="short and sweet")
        conversation_id = events[0].data["conversation_id"]
        replay = await twin.client.get(f"{CHAT}/{conversation_id}/stream", headers={**me.headers, "Last-Event-ID": "2"})
        assert replay.status_code == 200
        assert [(e.id, e.event, e.data) for e in parse_events(replay.text)] == [
            (e.id, e.event, e.data) for e in events[2:]
        ]
        nothing_left = await twin.client.get(
            f"{CHAT}/{conversation_id}/stream", headers={**me.headers, "Last-Event-ID": events[-1].id}
        )
        assert nothing_left.status_code == 200 and nothing_left.text == ""

    async def test_resume_where_nothing_ran_or_not_yours_is_404(self, twin):
        me = await signed_in_user(twin.app, twin.client)
        other = await signed_in_user(twin.app, twin.client)
        events = await _chat(twin.client, me.headers, message="mine")
        conversation_id = events[0].data["conversation_id"]
        assert_problem(await twin.client.get(f"{CHAT}/{conversation_id}/stream", headers=other.headers), 404)
        assert_problem(await twin.client.post(f"{CHAT}/{conversation_id}/stop", headers=other.headers), 404)
        created = await twin.client.post("/api/v1/conversations", json={}, headers=me.headers)
        assert created.status_code == 201, created.text
        assert_problem(await twin.client.get(f"{CHAT}/{created.json()['id']}/stream", headers=me.headers), 404)

    async def test_client_gone_longer_than_grace_cancels_the_answer(self, twin, session):
        me = await signed_in_user(twin.app, twin.client)
        text = " ".join(f"t{n}" for n in range(200))
        async with (
            httpx.AsyncClient(base_url=twin.live_url, timeout=10) as http,
            http.stream("POST", CHAT, json={"message": text, "model": "slow"}, headers=me.headers) as response,
        ):
            async for chunk in response.aiter_text():
                if "event: delta" in chunk:
                    break
        run = next(iter(twin.app.state.chat_engine.runs.active()))
        await asyncio.wait_for(run.done.wait(), timeout=3)
        stored = await session.get(Message, run.message_id)
        assert stored.finish_reason == "cancelled" and 0 < len(stored.content) < len(text)

    async def test_answers_orphaned_by_a_crash_become_interrupted(self, twin, session):
        me = await signed_in_user(twin.app, twin.client)
        events = await _chat(twin.client, me.headers, message="prepare the data")
        conversation_id = uuid.UUID(events[0].data["conversation_id"])
        orphan = Message(
            conversation_id=conversation_id, role="assistant", content="half of an ans", finish_reason=None, extra={}
        )
        session.add(orphan)
        await session.commit()
        await session.execute(
            update(Message).where(Message.id == orphan.id).values(updated_at=Message.updated_at - timedelta(minutes=5))
        )
        await session.commit()
        assert await twin.app.state.chat_engine.sweep_interrupted() == 1
        await session.refresh(orphan)
        assert orphan.finish_reason == "interrupted" and orphan.content == "half of an ans"


class TestCheckpoints:
    async def test_every_running_answer_is_saved_in_one_checkpoint(self, client, app, session):
        me = await signed_in_user(app, client)
        engine = app.state.chat_engine
        streams = [
            asyncio.create_task(
                client.post(
                    CHAT,
                    json={"message": " ".join(f"{tag}{n}" for n in range(100)), "model": "slow"},
                    headers=me.headers,
                )
            )
            for tag in ("a", "b")
        ]
        await asyncio.sleep(0.5)
        runs = engine.runs.active()
        assert len(runs) == 2
        await engine.checkpoint()
        rows = (
            await session.execute(
                select(Message.id, Message.content, Message.finish_reason).where(
                    Message.id.in_([run.message_id for run in runs])
                )
            )
        ).all()
        assert len(rows) == 2
        for row in rows:
            assert row.finish_reason is None
            # Sealed at rest (README, "Encryption at rest"): the checkpoint opens to the text so far.
            assert row.content.startswith(sealed.MARKER)
            words = (await sealed.open_text(row.content, context=sealed.message_context(row.id))).split()
            assert words and words == [f"{words[0][0]}{n}" for n in range(len(words))]
        for run in runs:
            await client.post(f"{CHAT}/{run.conversation_id}/stop", headers=me.headers)
        for stream in streams:
            await stream
