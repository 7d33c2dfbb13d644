"""Suspending a user stops the answers being written for them, on whichever replica writes them: the stream
ends within a moment of the suspension (finish_reason `cancelled`), it does not run on to the end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from parley.auth.permissions import Role
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


async def _suspend_mid_answer(answering_url: str, me: SignedIn, suspend: httpx.AsyncClient, admin: SignedIn) -> None:
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


class TestSuspensionStopsAnswers:
    async def test_the_answer_being_written_stops(self, client, app, live_url):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        me = await signed_in_user(app, client)
        await _suspend_mid_answer(live_url, me, client, admin)

    async def test_the_answer_stops_when_another_replica_suspends(
        self, client, redis_app: FastAPI, redis_live_url: str, replica_b: FastAPI
    ):
        for replica in (redis_app, replica_b):
            await reset_app(replica)
        admin = await signed_in_user(redis_app, client, role=Role.ADMIN)
        me = await signed_in_user(redis_app, client)
        # The answer runs on replica A; the administrator's call lands on replica B.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=replica_b), base_url="http://b") as via_b:
            await _suspend_mid_answer(redis_live_url, me, via_b, admin)
