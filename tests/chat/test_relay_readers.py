"""Many clients on one replica following answers generated on another (bench B4 with `--workers 2`): every reader
gets its whole answer, and the reading replica's Redis connections stay few however many clients read."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from parley.redis_client import POOL_CONNECTIONS
from tests.factories import signed_in_user
from tests.sse import answer_text, parse_events

CHAT = "/api/v1/chat"
ANSWERS = 30
READERS_PER_ANSWER = 10  # 300 readers on B: more than redis-py's default pool of 100 connections
# Long enough that B's 300 resumes all attach before anything times out on a loaded machine.
GRACE_SECONDS = 20.0


async def _start(http: httpx.AsyncClient, headers, text: str, started: dict, attached: asyncio.Event) -> None:
    """Start an answer (silent for 10 s, then `text`), note its `message` event, and drop the connection once
    the readers on B are attached."""
    seen = ""
    async with http.stream("POST", CHAT, json={"message": text, "model": "quiet"}, headers=headers) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_text():
            seen += chunk
            if "\n\n" in seen:
                break
        started[text] = (parse_events(seen.split("\n\n", 1)[0] + "\n\n")[0], headers)
        await attached.wait()


async def _follow(http: httpx.AsyncClient, headers, conversation_id: str, after: str, connected: list) -> tuple:
    path = f"{CHAT}/{conversation_id}/stream"
    async with http.stream("GET", path, headers={**headers, "Last-Event-ID": after}) as response:
        connected.append(response.status_code)
        if response.status_code != 200:
            await response.aread()
            return f"{response.status_code} {response.json().get('code')}: {response.json().get('detail')}", []
        body = b"".join([chunk async for chunk in response.aiter_bytes()]).decode()
    return 200, parse_events(body)


class TestManyRemoteReaders:
    async def test_300_readers_on_b_get_whole_answers_from_a_over_few_redis_connections(self, replicas):
        (app_a, url_a), (app_b, url_b) = replicas
        relay_b = app_b.state.chat_engine.relay
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        peak = 0
        sampling = True

        async def sample() -> None:
            nonlocal peak
            while sampling:
                peak = max(peak, relay_b.redis_connections())
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        try:
            async with (
                httpx.AsyncClient(base_url=url_a, timeout=60, limits=limits) as via_a,
                httpx.AsyncClient(base_url=url_b, timeout=60, limits=limits) as via_b,
            ):
                # Two answers at a time per user (the free plan's concurrent answers).
                users = [await signed_in_user(app_a, via_a) for _ in range(ANSWERS // 2)]
                texts = [f"answer {n} " + " ".join(f"w{n}x{k}" for k in range(8)) for n in range(ANSWERS)]
                started: dict = {}
                attached = asyncio.Event()
                starters = [
                    asyncio.create_task(_start(via_a, users[n // 2].headers, text, started, attached))
                    for n, text in enumerate(texts)
                ]
                while len(started) < ANSWERS:
                    await asyncio.sleep(0.05)
                    for task in starters:
                        if task.done():
                            task.result()  # a start that failed fails the test here
                connected: list[int] = []
                followed = [(text, *started[text]) for text in texts for _ in range(READERS_PER_ANSWER)]
                readers = [
                    asyncio.create_task(_follow(via_b, headers, message.data["conversation_id"], message.id, connected))
                    for _, message, headers in followed
                ]
                while len(connected) < len(readers) and not any(task.done() for task in readers):
                    await asyncio.sleep(0.05)
                attached.set()  # A's own clients leave: only B's readers keep the answers going now
                await asyncio.gather(*starters)
                results = await asyncio.gather(*readers)
        finally:
            sampling = False
            with contextlib.suppress(asyncio.CancelledError):
                await sampler

        statuses = [status for status, _ in results]
        assert statuses.count(200) == len(readers), {status: statuses.count(status) for status in set(statuses)}
        for (_, events), (text, _, _) in zip(results, followed, strict=True):
            assert answer_text(events) == text
            done = next(e for e in events if e.event == "done").data
            assert done["finish_reason"] == "stop"
            assert [int(e.id) for e in events] == list(range(2, 2 + len(events)))
        # 300 followers of 30 streams: one reading connection, plus the command pool (32 at most, which the burst
        # of 300 resumes' look-ups may fill), never one per reader (redis-py's default pool: 100, then errors).
        assert 1 <= peak <= POOL_CONNECTIONS + 4, peak
