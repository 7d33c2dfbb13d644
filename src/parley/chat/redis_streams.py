"""One reader per process for the Redis streams its clients follow (`chat.redis_relay`).

A client reading an answer held by another replica used to wait in a blocking `XREAD` of its own, on a pooled
connection: past the pool's size (redis-py's 100) every Redis command of the process failed. Here every
follower of a stream is a `StreamFeed`, and one `_Lane` task reads all the streams followed (up to
`_STREAMS_PER_READ`; more lanes past that, one connection each) with one multi-stream `XREAD BLOCK`, handing each
feed the entries after its own position.

A lane learns that a stream was added while its `XREAD` blocks through a wake-up stream of its own (`_wake_key`),
which it reads in the same `XREAD`: adding a feed appends an entry to it (one `XADD`, batched, from one task).
That has no race (an entry added before the `XREAD` reaches Redis is after the id the lane knows, so the read
returns at once), costs no reconnect (cancelling a blocking read drops its connection) and no polling delay (a
short block timeout). A lane that is never woken still rebuilds its read every block.

On a Redis Cluster one command may only touch keys of one hash slot: a lane there reads the streams of one slot
(the relay tags them so that they fall into few), its wake-up stream carries the same hash tag, and it reads on a
connection of its own to the node that holds the slot (as the cluster client last mapped it). Not through the
cluster client's pools: a blocking read that times out there (a loaded event loop) makes redis-py drop and
remap every connection of the client, the commands of every request in flight with them. A slot that moved
(fail-over, resharding) fails the lane's next read (`MOVED`): its clients reconnect, by then to a lane on the
slot's new node.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import structlog
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from parley.redis_client import RedisClient, slot_of, slot_tag

_logger = structlog.get_logger("parley.chat.relay")

# Entries read per stream per XREAD.
_READ_BATCH = 1_000
# Streams one XREAD follows at most; a lane (and its connection) per this many followed streams.
_STREAMS_PER_READ = 1_000
# A followed stream quiet for this long is checked for existence (its holder died and it expired: its readers
# stop). One pipelined EXISTS per check for all such streams of a lane.
_VANISH_CHECK_SECONDS = 5.0
_WAKE_TTL_MS = 60_000
_RETRY_SECONDS = 1.0

_StreamEntry = tuple[bytes, dict[bytes, bytes]]
_Position = tuple[int, int]


def _hash_tag(key: str) -> str:
    """What Redis Cluster hashes of `key`: the text between its first `{` and the next `}` when not empty, else
    the whole key."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def _position(entry_id: bytes) -> _Position:
    first, _, second = entry_id.partition(b"-")
    return int(first), int(second or 0)


class StreamFeed:
    """One follower of one stream: the entries after its position, as the process's reader receives them."""

    def __init__(self, reader: StreamReader, key: str, after: bytes) -> None:
        self._reader = reader
        self.key = key
        self.position = _position(after)
        self._entries: list[_StreamEntry] = []
        self._ready = asyncio.Event()
        self._gone = False
        self._error: BaseException | None = None
        self.closed = False

    def _push(self, entries: list[_StreamEntry]) -> None:
        self._entries.extend(entries)
        self._ready.set()

    def _end(self, error: BaseException | None = None) -> None:
        self._gone = True
        self._error = error
        self._ready.set()

    async def batches(self) -> AsyncIterator[list[_StreamEntry]]:
        """Entries as they come (those that piled up come together); ends when the stream is gone, raises
        `RedisError`/`OSError` when Redis could not be read."""
        while True:
            if self._entries:
                batch, self._entries = self._entries, []
                yield batch
                continue
            if self._gone:
                if self._error is not None:
                    raise self._error
                return
            self._ready.clear()
            await self._ready.wait()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._reader._leave(self)

    def __enter__(self) -> StreamFeed:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class StreamReader:
    """Follows streams for this process's readers with a bounded number of connections (one per lane)."""

    def __init__(
        self, client: RedisClient, *, prefix: str, block_ms: int, streams_per_read: int = _STREAMS_PER_READ
    ) -> None:
        self._pool: ConnectionPool | None = None
        self._client_name = f"{prefix}:relay-reader"
        if isinstance(client, Redis):
            pool = client.connection_pool
            kwargs = {**pool.connection_kwargs, "client_name": self._client_name}
            # The lanes' own connections, apart from the commands' pool: a blocking read holds its connection.
            self._pool = ConnectionPool(connection_class=pool.connection_class, **kwargs)
        # On a cluster, each lane's own pool (one connection) to its slot's node.
        self._node_pools: dict[_Lane, ConnectionPool] = {}
        self._client = client
        self._block_ms = block_ms
        self._streams_per_read = streams_per_read
        self._wake_prefix = f"{prefix}:relay:wake:{uuid.uuid4().hex}"
        self._lanes: list[_Lane] = []
        self._lane_of: dict[str, _Lane] = {}
        # On a cluster, the hash slot of each lane's streams (a lane reads one slot's).
        self._slot_of_lane: dict[_Lane, int] = {}
        self._lane_numbers = 0
        self._to_wake: set[_Lane] = set()
        self._wake = asyncio.Event()
        self._waker: asyncio.Task[None] | None = None

    def follow(self, key: str, *, after: bytes) -> StreamFeed:
        """A feed of `key`'s entries after id `after`; close it when done."""
        feed = StreamFeed(self, key, after)
        lane = self._lane_of.get(key)
        if lane is None:
            slot = None if isinstance(self._client, Redis) else slot_of(key)
            lane = next(
                (
                    lane
                    for lane in self._lanes
                    if len(lane.feeds) < self._streams_per_read and self._slot_of_lane.get(lane) == slot
                ),
                None,
            )
            if lane is None:
                self._lane_numbers += 1
                wake_key = f"{self._wake_prefix}:{self._lane_numbers}"
                if slot is not None:  # in the streams' slot: the same hash tag
                    wake_key = f"{self._wake_prefix}:{slot_tag(_hash_tag(key), cluster=True)}:{self._lane_numbers}"
                lane = _Lane(self, wake_key)
                self._lanes.append(lane)
                if slot is not None:
                    self._slot_of_lane[lane] = slot
            self._lane_of[key] = lane
        lane.add(feed)
        self._to_wake.add(lane)
        self._wake.set()
        if self._waker is None or self._waker.done():
            self._waker = asyncio.create_task(self._wake_lanes(), name="relay-reader-waker")
        return feed

    def connections(self) -> int:
        """Connections the lanes hold (idle or reading)."""
        pools = [self._pool] if self._pool is not None else list(self._node_pools.values())
        return sum(count for pool in pools for count, _ in pool.get_connection_count())

    def _lane_client(self, lane: _Lane) -> Redis:
        """A connection of the lane's own: from the lanes' pool, or on a cluster to the node of its slot."""
        if self._pool is not None:
            return Redis(connection_pool=self._pool, single_connection_client=True)
        node = cast(RedisCluster, self._client).get_node_from_key(lane.wake_key)
        if node is None:
            raise RedisError(f"no node of the cluster holds the slot of {lane.wake_key}")
        options = {name: value for name, value in node.connection_kwargs.items() if not name.startswith("oss_")}
        pool = ConnectionPool(connection_class=node.connection_class, **{**options, "client_name": self._client_name})
        self._node_pools[lane] = pool
        return Redis(connection_pool=pool, single_connection_client=True)

    def _leave(self, feed: StreamFeed) -> None:
        lane = self._lane_of.get(feed.key)
        if lane is not None and lane.remove(feed):
            del self._lane_of[feed.key]

    def _lane_done(self, lane: _Lane) -> ConnectionPool | None:
        """Forget a lane that stopped; its own pool (on a cluster), for the lane to close."""
        if lane in self._lanes:
            self._lanes.remove(lane)
        self._slot_of_lane.pop(lane, None)
        for key in [key for key, owner in self._lane_of.items() if owner is lane]:
            del self._lane_of[key]
        return self._node_pools.pop(lane, None)

    async def _wake_lanes(self) -> None:
        """Append to the wake-up stream of every lane that was given a stream since, in one round trip."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            lanes, self._to_wake = self._to_wake, set()
            pipe = self._client.pipeline(transaction=False)
            for lane in lanes:
                pipe.xadd(lane.wake_key, {"w": 1}, maxlen=1, approximate=False)
                pipe.pexpire(lane.wake_key, _WAKE_TTL_MS)
            try:
                await pipe.execute()
            except (RedisError, OSError) as exc:  # the lanes rebuild their reads within a block anyway
                _logger.warning("relay_reader_wake_failed", error=str(exc))
                await asyncio.sleep(_RETRY_SECONDS)

    async def aclose(self) -> None:
        tasks = [lane.task for lane in self._lanes if lane.task is not None]
        if self._waker is not None:
            tasks.append(self._waker)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pool is not None:
            await self._pool.disconnect()


class _Lane:
    """One task and one connection reading up to `_STREAMS_PER_READ` followed streams with one XREAD."""

    def __init__(self, reader: StreamReader, wake_key: str) -> None:
        self._reader = reader
        self.wake_key = wake_key
        self._wake_id = b"0-0"
        self.feeds: dict[str, set[StreamFeed]] = {}
        self._active_at: dict[str, float] = {}
        self._checked_at = time.monotonic()
        self.task: asyncio.Task[None] | None = asyncio.create_task(self._read_forever(), name="relay-reader")

    def add(self, feed: StreamFeed) -> None:
        self.feeds.setdefault(feed.key, set()).add(feed)
        self._active_at.setdefault(feed.key, time.monotonic())

    def remove(self, feed: StreamFeed) -> bool:
        """Forget a feed; True when its stream has no feed left here."""
        feeds = self.feeds.get(feed.key)
        if feeds is None:
            return True
        feeds.discard(feed)
        if feeds:
            return False
        del self.feeds[feed.key]
        self._active_at.pop(feed.key, None)
        return True

    async def _read_forever(self) -> None:
        client: Redis | None = None
        try:
            while self.feeds:
                # Each stream from its least advanced feed; the others skip what they already have.
                starts = {key: min(feed.position for feed in feeds) for key, feeds in self.feeds.items()}
                streams: dict[Any, Any] = {key: f"{start[0]}-{start[1]}" for key, start in starts.items()}
                streams[self.wake_key] = self._wake_id
                try:
                    if client is None:
                        client = self._reader._lane_client(self)
                    reply = await client.xread(streams, count=_READ_BATCH, block=max(1, self._reader._block_ms))
                    now = time.monotonic()
                    for name, entries in cast(list[tuple[bytes, list[_StreamEntry]]], reply or []):
                        key = name.decode()
                        if key == self.wake_key:
                            self._wake_id = entries[-1][0]
                        elif key in starts:
                            self._deliver(key, starts[key], entries)
                            self._active_at[key] = now
                    if now - self._checked_at >= _VANISH_CHECK_SECONDS:
                        self._checked_at = now
                        await self._drop_vanished(client, now)
                except (RedisError, OSError) as exc:  # as a read of its own would: the feeds end with it
                    _logger.warning("relay_read_failed", error=str(exc), streams=len(self.feeds))
                    self._end_all(exc)
                    await asyncio.sleep(_RETRY_SECONDS)
                except Exception as exc:  # a bug (here or in redis-py) must not leave the feeds waiting forever
                    _logger.exception("relay_read_crashed", streams=len(self.feeds))
                    self._end_all(RedisError(f"the stream reader failed: {exc!r}"))
                    await asyncio.sleep(_RETRY_SECONDS)
        finally:
            for feeds in self.feeds.values():  # stopped (shutdown): their clients reconnect elsewhere
                for feed in feeds:
                    feed._end()
            pool = self._reader._lane_done(self)
            self.task = None
            with contextlib.suppress(RedisError, OSError):
                if client is not None:
                    await client.aclose()
                if pool is not None:
                    await pool.disconnect()

    def _end_all(self, error: BaseException) -> None:
        for feeds in list(self.feeds.values()):
            for feed in feeds:
                feed._end(error)
        self.feeds.clear()

    def _deliver(self, key: str, start: _Position, entries: list[_StreamEntry]) -> None:
        positions = [_position(entry_id) for entry_id, _ in entries]
        for feed in self.feeds.get(key, ()):
            if feed.position < start:
                continue  # joined after this read was sent, further back: the next read starts there
            first = next((n for n, position in enumerate(positions) if position > feed.position), None)
            if first is not None:
                feed.position = positions[-1]
                feed._push(entries[first:])

    async def _drop_vanished(self, client: RedisClient, now: float) -> None:
        quiet = [key for key, at in self._active_at.items() if now - at >= _VANISH_CHECK_SECONDS]
        if not quiet:
            return
        pipe = client.pipeline(transaction=False)
        for key in quiet:
            pipe.exists(key)
        for key, exists in zip(quiet, await pipe.execute(), strict=True):
            if exists:
                self._active_at[key] = now
                continue
            for feed in self.feeds.pop(key, set()):
                feed._end()
            self._active_at.pop(key, None)
