"""Fencing (chat.handover): a replica that is slow but alive has its answer taken over by another, and from then
on writes nothing more of it: not to the Redis stream its clients read, not to the message, not to the bill.

Two apps (A = `redis_app`, B = `replica_b`) on one database and one Redis. A's stall is simulated: its
checkpoints stop (as when its database connection hangs) and the answer's checkpoint is dated past the stale
window; B's sweep then claims it and continues it, while A, alive, goes on generating. The client reads the
answer through B, with Last-Event-ID, as it would after reconnecting through the load balancer.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
from prometheus_client import REGISTRY
from sqlalchemy import update

from parley.auth.permissions import Role
from parley.chat import handover
from parley.chat.runs import FENCED
from parley.llm.providers.scripted import split_tokens
from parley.models import Message
from tests.factories import signed_in_user
from tests.sse import answer_text, collect, parse_events

CHAT = "/api/v1/chat"


def _handovers(outcome: str) -> float:
    return REGISTRY.get_sample_value("parley_chat_handovers_total", {"outcome": outcome}) or 0.0


async def _start(http: httpx.AsyncClient, headers, text: str, *, model: str, events: int) -> list:
    """Start an answer on `http`'s replica, read its first `events` events, then drop the connection. In a
    conversation with a title already, so that the answer is all the model writes and bills."""
    created = await http.post("/api/v1/conversations", json={"title": "fencing"}, headers=headers)
    assert created.status_code == 201, created.text
    body = {"message": text, "model": model, "conversation_id": created.json()["id"]}
    seen = ""
    async with http.stream("POST", CHAT, json=body, headers=headers) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_text():
            seen += chunk
            if seen.count("\n\n") >= events:
                break
    return parse_events("\n\n".join(seen.split("\n\n")[:events]) + "\n\n")


async def _stall(app, monkeypatch, session, message_id: uuid.UUID) -> None:
    """A's checkpoints stop (its database hangs) and the answer looks abandoned: past any stale window."""

    async def hung() -> None:
        return None

    monkeypatch.setattr(app.state.chat_engine, "checkpoint", hung)
    await session.execute(
        update(Message).where(Message.id == message_id).values(updated_at=Message.updated_at - timedelta(hours=1))
    )
    await session.commit()


async def _billed(http: httpx.AsyncClient, headers) -> tuple[int, int]:
    usage = (await http.get("/api/v1/users/me/usage", headers=headers)).json()["total"]
    limits = (await http.get("/api/v1/users/me/limits", headers=headers)).json()
    return usage["completion_tokens"], limits["concurrent_answers"]["running"]


class TestAStalledWriterIsFencedOff:
    async def test_its_text_after_the_take_over_reaches_neither_the_stream_nor_the_message(
        self, replicas, session, monkeypatch
    ):
        (app_a, url_a), (app_b, url_b) = replicas
        fenced_before, taken_before = _handovers("fenced"), _handovers("taken_over")
        text = " ".join(f"w{n}" for n in range(100))  # 4 s at 25 tokens/s
        async with httpx.AsyncClient(base_url=url_a, timeout=10) as via_a:
            me = await signed_in_user(app_a, via_a)
            before = await _start(via_a, me.headers, text, model="slow", events=6)
        conversation_id = uuid.UUID(before[0].data["conversation_id"])
        message_id = uuid.UUID(before[0].data["assistant_message_id"])
        run_a = app_a.state.chat_engine.runs.get(conversation_id)

        async with httpx.AsyncClient(base_url=url_b, timeout=30) as via_b:
            headers = {**me.headers, "Last-Event-ID": before[-1].id}
            async with via_b.stream("GET", f"{CHAT}/{conversation_id}/stream", headers=headers) as response:
                assert response.status_code == 200
                reading = asyncio.create_task(collect(response))
                await asyncio.sleep(0.3)  # the client reads A's answer through B meanwhile
                await _stall(app_a, monkeypatch, session, message_id)
                # B's sweep claims it while A, alive, goes on writing it.
                assert not run_a.finished
                assert await handover.take_over(app_b.state.chat_engine) == 0
                after = await asyncio.wait_for(reading, timeout=20)
            billed, running = await _billed(via_b, me.headers)

        # One continuous answer: every id once, in order, and the text exactly once.
        ids = [int(e.id) for e in before + after if e.id is not None]
        assert ids == list(range(1, len(ids) + 1))
        assert answer_text(before) + answer_text(after) == text
        done = next(e for e in after if e.event == "done").data
        assert done["finish_reason"] == "stop"
        # A stopped as soon as it met the fence: no end of its own, nothing saved.
        await asyncio.wait_for(run_a.done.wait(), timeout=5)
        assert run_a.cancel_reason == FENCED
        assert [e for e in parse_events(b"".join(run_a.events).decode()) if e.event in ("done", "error")] == []
        assert len(answer_text(parse_events(b"".join(run_a.events).decode()))) < len(text)
        # The message is B's, the tokens are billed once, and no quota hold is left running.
        await session.rollback()
        stored = await session.get(Message, message_id, populate_existing=True)
        assert (stored.content, stored.finish_reason) == (text, "stop")
        assert stored.extra["handed_over"]["model"] == "slow" and "writer" not in stored.extra
        assert billed == len(split_tokens(text))
        assert running == 0
        assert (_handovers("fenced") - fenced_before, _handovers("taken_over") - taken_before) == (1, 1)

    async def test_a_writer_stalled_before_its_first_token_learns_it_from_its_next_checkpoint_and_stops(
        self, replicas, session, monkeypatch
    ):
        """The model is silent for 10 s (nothing to relay): A's next checkpoint, once its database answers again,
        tells it the answer is B's; A's model call is cancelled at once, long before its first token."""
        (app_a, url_a), (app_b, url_b) = replicas
        engine_a = app_a.state.chat_engine
        checkpoint = engine_a.checkpoint
        text = "quiet words come later"
        async with httpx.AsyncClient(base_url=url_a, timeout=10) as via_a:
            me = await signed_in_user(app_a, via_a)
            before = await _start(via_a, me.headers, text, model="quiet", events=1)
        conversation_id = uuid.UUID(before[0].data["conversation_id"])
        message_id = uuid.UUID(before[0].data["assistant_message_id"])
        run_a = engine_a.runs.get(conversation_id)

        async with httpx.AsyncClient(base_url=url_b, timeout=30) as via_b:
            headers = {**me.headers, "Last-Event-ID": before[-1].id}
            async with via_b.stream("GET", f"{CHAT}/{conversation_id}/stream", headers=headers) as response:
                assert response.status_code == 200
                reading = asyncio.create_task(collect(response))
                await _stall(app_a, monkeypatch, session, message_id)
                assert await handover.take_over(app_b.state.chat_engine) == 0
                await checkpoint()  # A's database is back
                await asyncio.wait_for(run_a.done.wait(), timeout=3)
                after = await asyncio.wait_for(reading, timeout=30)
            billed, running = await _billed(via_b, me.headers)

        assert run_a.cancel_reason == FENCED
        assert [e.event for e in parse_events(b"".join(run_a.events).decode())] == ["message"]
        assert answer_text(after) == text
        ids = [int(e.id) for e in before + after if e.id is not None]
        assert ids == list(range(1, len(ids) + 1))
        await session.rollback()
        stored = await session.get(Message, message_id, populate_existing=True)
        assert (stored.content, stored.finish_reason) == (text, "stop")
        assert billed == len(split_tokens(text))
        assert running == 0


class TestATakenOverAnswerKeepsItsPolicyForPersonalData:
    async def test_the_continuation_masks_what_the_users_limits_say_to_mask(self, replicas, session, monkeypatch):
        """The user's limits say `mask` while the model (scripted: trusted) would send prompts as written; B
        continues A's answer under the user's policy, not the model's: the model never sees the address."""
        (app_a, url_a), (app_b, url_b) = replicas
        email = "jane.roe@example.org"
        async with httpx.AsyncClient(base_url=url_a, timeout=10) as via_a:
            admin = await signed_in_user(app_a, via_a, role=Role.ADMIN)
            me = await signed_in_user(app_a, via_a)
            limited = await via_a.put(
                f"/api/v1/admin/users/{me.id}/limits", json={"pii_policy": "mask"}, headers=admin.headers
            )
            assert limited.status_code == 200, limited.text
            before = await _start(via_a, me.headers, f"Write to {email} today", model="quiet", events=1)
        conversation_id = uuid.UUID(before[0].data["conversation_id"])
        message_id = uuid.UUID(before[0].data["assistant_message_id"])

        async with httpx.AsyncClient(base_url=url_b, timeout=40) as via_b:
            headers = {**me.headers, "Last-Event-ID": before[-1].id}
            async with via_b.stream("GET", f"{CHAT}/{conversation_id}/stream", headers=headers) as response:
                assert response.status_code == 200
                reading = asyncio.create_task(collect(response))
                await _stall(app_a, monkeypatch, session, message_id)
                assert await handover.take_over(app_b.state.chat_engine) == 0
                after = await asyncio.wait_for(reading, timeout=30)

        # The scripted model echoes the prompt it was given: B gave it the masked question.
        assert answer_text(after) == "Write to <EMAIL> today"
        assert next(e for e in after if e.event == "done").data["finish_reason"] == "stop"
