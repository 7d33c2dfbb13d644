"""The process's one reader of the Redis streams its clients follow (`chat.redis_streams`), on a real Redis: every
follower gets the entries after its own position, however many share a read, and a stream that vanishes ends
its followers."""

from __future__ import annotations

import asyncio

import pytest_asyncio
import redis.asyncio

from parley.chat.redis_streams import StreamFeed, StreamReader
from parley.redis_client import connect


@pytest_asyncio.fixture(loop_scope="session")
async def streams(redis_url, redis_key_prefix):
    client = connect(redis_url)
    reader = StreamReader(client, prefix=f"{redis_key_prefix}:sr", block_ms=2000, streams_per_read=2)
    yield client, reader, f"{redis_key_prefix}:sr:stream"
    await reader.aclose()
    await client.aclose()


async def _numbers(feed: StreamFeed, *, until: int) -> list[int]:
    seen: list[int] = []
    async with asyncio.timeout(10):
        async for entries in feed.batches():
            seen += [int(fields[b"n"]) for _, fields in entries]
            if seen and seen[-1] >= until:
                return seen
    return seen


async def _add(client: redis.asyncio.Redis, key: str, numbers: range) -> None:
    for n in numbers:
        await client.xadd(key, {"n": n}, id=f"{n}-0")


class TestFollowing:
    async def test_five_streams_over_lanes_of_two_each_reach_every_follower_from_its_own_position(self, streams):
        client, reader, base = streams
        keys = [f"{base}:{n}" for n in range(5)]
        for key in keys:
            await _add(client, key, range(1, 4))
        early = [reader.follow(key, after=b"0-0") for key in keys]
        first = await asyncio.gather(*(_numbers(feed, until=3) for feed in early))
        assert first == [[1, 2, 3]] * 5
        assert 1 <= reader.connections() <= 3  # lanes of two streams: three, one connection each

        # A follower joining the first stream further back than the one already there, while the lane blocks.
        late = reader.follow(keys[0], after=b"1-0")
        await asyncio.sleep(0.2)
        for key in keys:
            await _add(client, key, range(4, 6))
        assert await _numbers(late, until=5) == [2, 3, 4, 5]
        assert await asyncio.gather(*(_numbers(feed, until=5) for feed in early)) == [[4, 5]] * 5
        for feed in [*early, late]:
            feed.close()

    async def test_a_stream_that_vanishes_ends_its_followers(self, streams, monkeypatch):
        import parley.chat.redis_streams as module

        monkeypatch.setattr(module, "_VANISH_CHECK_SECONDS", 0.2)
        client, _, base = streams
        reader = StreamReader(client, prefix=f"{base}:v", block_ms=200)
        key = f"{base}:gone"
        await _add(client, key, range(1, 2))
        try:
            with reader.follow(key, after=b"1-0") as feed:
                await asyncio.sleep(0.3)
                await client.delete(key)  # its holder died and it expired
                async with asyncio.timeout(5):
                    assert [entries async for entries in feed.batches()] == []
        finally:
            await reader.aclose()
