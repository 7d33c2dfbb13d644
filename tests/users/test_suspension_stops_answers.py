"""Suspending a user stops the answers being written for them, on whichever replica writes them: the stream
ends within a moment of the suspension (finish_reason `cancelled`), it does not run on to the end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from parley.auth.permissions import Role
from parley.models import Conversation
from tests.conftest import reset_app
from tests.factories import SignedIn, signed_in_user
from tests.sse import parse_events

CHAT = "/api/v1/chat"
# About 16 seconds of answer at the slow model's 25 tokens a second.
LONG_MESSAGE = " ".join(f"word{n}" for n in range(400))
# Deltas the answer may still send after the suspension returned: what was already on its way.
AT_MOST_AFTER = 5


async def _read_until(chunks: AsyncIterator[str], seen: list[str], *, deltas: int) -> None:
    while "".join(seen).count("event: delta") < deltas:
        seen.append(await anext(chunks))


async def _suspend_mid_answer(
    answering_url: str, me: SignedIn, suspend: httpx.AsyncClient, admin: SignedIn
) -> uuid.UUID:
    """Suspend `me` while an answer is being written for them; the answer's conversation."""
    async with (
        httpx.AsyncClient(base_url=answering_url, timeout=10) as http,
        http.stream("POST", CHAT, json={"message": LONG_MESSAGE, "model": "slow"}, headers=me.headers) as response,
    ):
        assert response.status_code == 200
        chunks = response.aiter_text()
        before: list[str] = []
        await _read_until(chunks, before, deltas=3)
        suspended = await suspend.post(f"/api/v1/admin/users/{me.id}/suspend", headers=admin.headers)
        assert suspended.status_code == 200, suspended.text
        after: list[str] = []
        async with asyncio.timeout(3):  # the unstopped answer would go on for about 15 more seconds
            async for chunk in chunks:
                after.append(chunk)
    events = parse_events("".join(after))
    assert sum(1 for event in events if event.event == "delta") <= AT_MOST_AFTER
    done = [event for event in events if event.event == "done"]
    assert done and done[0].data["finish_reason"] == "cancelled"
    started = parse_events("".join(before))[0]
    return uuid.UUID(started.data["conversation_id"])


class TestSuspensionStopsAnswers:
    async def test_the_answer_being_written_stops(self, client, app, live_url):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        me = await signed_in_user(app, client)
        await _suspend_mid_answer(live_url, me, client, admin)

    async def test_the_answer_stops_when_another_replica_suspends(
        self, client, session, redis_app: FastAPI, redis_live_url: str, replica_b: FastAPI
    ):
        for replica in (redis_app, replica_b):
            await reset_app(replica)
        admin = await signed_in_user(redis_app, client, role=Role.ADMIN)
        me = await signed_in_user(redis_app, client)
        # The answer runs on replica A; the administrator's call lands on replica B.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=replica_b), base_url="http://b") as via_b:
            conversation_id = await _suspend_mid_answer(redis_live_url, me, via_b, admin)
        # Stopped as a suspension, not as a Stop: no model is asked for a title on the suspended user's account.
        run = redis_app.state.chat_engine.runs.get(conversation_id)
        async with asyncio.timeout(5):
            while run is not None and not run.finished:
                await asyncio.sleep(0.05)
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None and conversation.title == "New chat"


async def _suspend_mid_completion(
    answering_url: str, key: str, suspend: httpx.AsyncClient, admin: SignedIn, user_id: str, *, within: float
) -> tuple[int, list[str]]:
    """Stream a /v1 completion with `key`, suspend its owner after 3 text chunks; the chunks that came after the
    suspension returned and the stream's last data lines."""
    body = {"model": "slow", "stream": True, "messages": [{"role": "user", "content": LONG_MESSAGE}]}
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(base_url=answering_url, timeout=10) as http,
        http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response,
    ):
        assert response.status_code == 200
        lines = response.aiter_lines()
        texts = 0
        while texts < 3:
            texts += "word" in await anext(lines)
        suspended = await suspend.post(f"/api/v1/admin/users/{user_id}/suspend", headers=admin.headers)
        assert suspended.status_code == 200, suspended.text
        after: list[str] = []
        async with asyncio.timeout(within):  # the unstopped answer would go on for about 15 more seconds
            async for line in lines:
                if line.startswith("data: "):
                    after.append(line.removeprefix("data: "))
    return sum("word" in line and "error" not in line for line in after), after[-2:]


class TestSuspensionStopsCompletions:
    """`/v1` completions stream inside their request, outside the chat engine: a suspension stops them too."""

    async def test_the_completion_being_streamed_stops(self, client, app, live_url):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        me = await signed_in_user(app, client)
        created = await client.post("/api/v1/users/me/api-keys", json={"name": "sdk"}, headers=me.headers)
        texts_after, last = await _suspend_mid_completion(
            live_url, created.json()["key"], client, admin, str(me.id), within=3
        )
        assert texts_after <= AT_MOST_AFTER
        assert "suspended" in last[0] and '"error"' in last[0]
        assert last[1] == "[DONE]"

    async def test_a_suspension_on_another_replica_stops_it_within_moments(
        self, client, redis_app: FastAPI, redis_live_url: str, replica_b: FastAPI
    ):
        for replica in (redis_app, replica_b):
            await reset_app(replica)
        admin = await signed_in_user(redis_app, client, role=Role.ADMIN)
        me = await signed_in_user(redis_app, client)
        created = await client.post("/api/v1/users/me/api-keys", json={"name": "sdk"}, headers=me.headers)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=replica_b), base_url="http://b") as via_b:
            # Replica A learns of it at its next look (every 2 s): at 25 tokens a second, some 50 more chunks of
            # the 400 the whole answer has.
            texts_after, last = await _suspend_mid_completion(
                redis_live_url, created.json()["key"], via_b, admin, str(me.id), within=6
            )
        assert texts_after <= 25 * 3
        assert "suspended" in last[0]
        assert last[1] == "[DONE]"
