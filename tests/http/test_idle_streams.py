"""What an open answer stream holds while it waits, served as `parley serve` serves it (uvicorn with Parley's
HTTP/1.1 protocol): 10,000 idle resume streams must fit in ~30 kB each (issue 13, B4), so a stream keeps
nothing of its request it no longer needs, and still notices at once when its client hangs up."""

from __future__ import annotations

import asyncio
import gc

import httpx

from parley.auth.principal import Principal
from tests.factories import signed_in_user

CHAT = "/api/v1/chat"


def principals_of(user_id: object) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Principal) and o.user_id == user_id)


async def wait_for(condition, seconds: float = 5.0) -> bool:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


class TestAnOpenStreamHoldsLittle:
    async def test_open_streams_keep_no_principal_of_their_caller(self, app, client, http1_server):
        me = await signed_in_user(app, client)
        headers = {"Authorization": f"Bearer {me.access_token}"}
        host, port = http1_server
        async with (
            httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as http,
            http.stream(
                "POST", CHAT, json={"message": " ".join(["word"] * 200), "model": "slow"}, headers=headers
            ) as asked,
        ):
            asked_chunks = asked.aiter_text()
            head = await anext(asked_chunks)
            conversation_id = head.split('"conversation_id":"', 1)[1].split('"', 1)[0]
            resume_headers = {**headers, "Last-Event-ID": "1"}
            async with http.stream("GET", f"{CHAT}/{conversation_id}/stream", headers=resume_headers) as resumed:
                assert resumed.status_code == 200
                chunks = resumed.aiter_text()
                first = await anext(chunks)
                assert "event: delta" in first
                # Both streams are open and being served: neither holds the caller's principal (and its
                # user row) any longer; it was only needed to authenticate and check the conversation.
                assert principals_of(me.id) == 0
                # And no task per stream waits for its client to hang up: the protocol tells the stream.
                assert not [t for t in asyncio.all_tasks() if "_watch_disconnect" in t.get_coro().__qualname__]
                more = await anext(chunks)
                assert "event: delta" in more
            await http.post(f"{CHAT}/{conversation_id}/stop", headers=headers)

    async def test_a_client_hanging_up_detaches_its_stream_at_once(self, app, client, http1_server):
        me = await signed_in_user(app, client)
        headers = {"Authorization": f"Bearer {me.access_token}"}
        host, port = http1_server
        runs = app.state.chat_engine.runs
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as http:
            async with http.stream(
                "POST", CHAT, json={"message": " ".join(["word"] * 200), "model": "slow"}, headers=headers
            ) as asked:
                asked_chunks = asked.aiter_text()
                head = await anext(asked_chunks)
                conversation_id = head.split('"conversation_id":"', 1)[1].split('"', 1)[0]
                run = next(r for r in runs.active() if str(r.conversation_id) == conversation_id)
                async with http.stream(
                    "GET", f"{CHAT}/{conversation_id}/stream", headers={**headers, "Last-Event-ID": "1"}
                ) as resumed:
                    chunks = resumed.aiter_text()
                    await anext(chunks)
                    assert run.listeners == 2
            # Both connections closed: the run learns it from the protocol, with no byte sent to either.
            assert await wait_for(lambda: run.listeners == 0)
            assert not run.finished  # still within the grace period, so a reconnect could pick it up
            again = await http.get(f"{CHAT}/{conversation_id}/stream", headers={**headers, "Last-Event-ID": "1"})
            # The resumed answer plays to its end for the new listener.
            assert again.status_code == 200 and "event: done" in again.text
