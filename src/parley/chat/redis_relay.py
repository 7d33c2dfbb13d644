"""The Redis twin of the relay (`parley.chat.relay`): several replicas behind a load balancer serve each other's
answers. Imported only when `REDIS_URL` is set.

What goes through Redis (names under the configured prefix, `parley` by default):

- `{prefix}:run:{conversation_id}`: a stream with the conversation's latest run. Entry ids are the SSE event
  numbers (`<n>-0`, with `n` also as a field, `e` the encoded event), so a reader resumes after Last-Event-ID by
  reading after id `<n>-0`. When the run finishes, an end marker (`end` field, id `<last + 1>-0`, never sent to
  clients) closes it and the key expires after `replay_retention_seconds`. While the run is live the key lives
  `LIVE_TTL_MS` and the holder refreshes it, so the stream of a replica that died vanishes and its readers stop.
- `{prefix}:chat:stop`: pub/sub; the payload is a conversation id whose live run its holder cancels.
- The first entry of a run also carries `h`, its hand-over note (`chat.handover`): what another replica needs
  to continue the answer should its holder die. It never reaches clients. A replica taking a run over reads the
  stream from its start (`replay`) and continues it with the next ids (`adopt`), so readers tailing it, here or
  elsewhere, see one answer.
- `{prefix}:run:{conversation_id}:writer`: the stream's writer, `<message id>/<writer token>` (`chat.handover`),
  living as long as the stream. Events and the end marker are appended by a script (`_APPEND`, in
  `chat.redis_stream_writer`) that refuses them unless it still names their run's writer: a replica whose answer
  was taken over (it stalled past the stale window, alive) can add nothing to the stream any more, and stops. A
  new run sets it; a replica taking a run over sets it in the script that reads the stream back (`_TAKE`),
  before its own first event.
- `{prefix}:chat:released`: pub/sub; a draining replica that handed answers over says so, so that the others
  take them at once rather than after the stale window.
- `{prefix}:chat:listening`: pub/sub heartbeats of remote readers, `"<conversation id> <seconds>"`. A replica
  reading another's run through Redis publishes one every `heartbeat_interval` while attached; the holder counts
  that as a listener for `<seconds>` (two intervals, so one lost beat is forgiven), and its disconnect grace
  period starts only once the heartbeats stop. Pub/sub keeps this state where it is used, in the holder's memory,
  with no keys to clean up; a heartbeat lost to a reconnect is covered by the next one.

On a Redis Cluster (`PARLEY_REDIS_CLUSTER`) the two keys of a run share a hash tag, `{prefix}:run:{r<n>}:<id>`
and `…:writer` (`n`: one of `CLUSTER_STREAM_SLOTS`, from the conversation id), so the scripts that touch both run
in one slot, and a process's stream reader reads the streams of one slot per XREAD. Heartbeats go out several to
a message there (a cluster pipeline cannot PUBLISH). The channels are the same: a cluster delivers a PUBLISH to
the subscribers of every node.

What a holder writes (events, end markers, writers, keep-alives) is queued and sent in batches by
`chat.redis_stream_writer`.

Bounded connections however many clients read: the streams this process's clients follow are read by one
`StreamReader` (`chat.redis_streams`: one multi-stream `XREAD BLOCK` per thousand streams, each on a connection of
its own), heartbeats go out from one task as one pipeline per interval, and every other command shares a
blocking pool of `parley.redis_client.POOL_CONNECTIONS` (a burst waits for a free connection instead of failing).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import cast

import structlog
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from parley.chat.redis_stream_writer import LIVE_TTL_MS, STREAM_MAXLEN, Entry, StreamWriter
from parley.chat.redis_streams import StreamReader
from parley.chat.relay import STOP_REASONS, Relayed, StopReason
from parley.chat.runs import Run, RunFeed, RunRegistry
from parley.config import LLMSettings
from parley.db import StartupError
from parley.redis_client import RedisClient, connections, describe, is_cluster, slot_tag, socket_timeout

_logger = structlog.get_logger("parley.chat.relay")

# A finished run's stream stays at least this long, so readers tailing it still see its end.
_MIN_RETENTION_MS = 5_000
# How long one XREAD blocks at most. A block must end well before the client's socket timeout (redis-py's
# default: 5 s), or a quiet stream (a slow first token, retrieval, a fallback) reads as a dead connection and
# cuts off the reader: see `_block_ms`.
_BLOCK_MS = 5_000
_RETRY_SECONDS = 1.0
# On a Redis Cluster, the hash tags run streams are spread over (see `stream_key`): a process reads the streams
# its clients follow with one XREAD per tag at most (per thousand streams), so this bounds its reading connections.
CLUSTER_STREAM_SLOTS = 64
# On a cluster, heartbeats go out as one message per this many conversations (a cluster pipeline cannot PUBLISH).
_HEARTBEATS_PER_MESSAGE = 500
# Make ARGV[2] (`<message id>/<token>`) the stream's writer and read the stream back, from its first entry (at
# most ARGV[4] entries), as one step: nothing the previous writer appends afterwards is accepted. Refused (nil)
# when the stream is another message's (ARGV[1]). ARGV[3]: the writer key's expiry in ms.
_TAKE = """
local current = redis.call('GET', KEYS[2])
if current and string.sub(current, 1, string.len(ARGV[1]) + 1) ~= ARGV[1] .. '/' then return false end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[4])
"""
# A stream entry as read back (the client speaks RESP2 and returns bytes): its id and fields.
_StreamEntry = tuple[bytes, dict[bytes, bytes]]


class RedisRelay:
    """Publishes this process's runs to Redis streams, serves stop requests and remote-listener heartbeats for
    them, and reads other replicas' runs."""

    can_hand_over = True

    def __init__(
        self, client: RedisClient, *, prefix: str, settings: LLMSettings, flush_interval: float = 0.025
    ) -> None:
        self._client = client
        self._cluster = is_cluster(client)
        self._prefix = prefix
        self._block_ms = _block_ms(client)
        self._retention_ms = max(_MIN_RETENTION_MS, int(settings.replay_retention_seconds * 1000))
        self.heartbeat_interval = min(5.0, max(0.1, settings.disconnect_grace_seconds / 3))
        self.stop_channel = f"{prefix}:chat:stop"
        self.listening_channel = f"{prefix}:chat:listening"
        self.released_channel = f"{prefix}:chat:released"
        self._on_release: list[Callable[[], None]] = []
        self._live: dict[uuid.UUID, Run] = {}
        self._runs: RunRegistry | None = None
        self._pubsub: PubSub | None = None
        self._writer = StreamWriter(
            client,
            writer_key=self.writer_key,
            live_keys=lambda: [self.stream_key(conversation_id) for conversation_id in self._live],
            retention_ms=self._retention_ms,
            flush_interval=flush_interval,
        )
        self._requests: asyncio.Task[None] | None = None
        self._reader = StreamReader(client, prefix=prefix, block_ms=self._block_ms)
        # Conversations whose runs (held elsewhere) readers here follow, with how many; those not yet announced.
        self._listening: dict[uuid.UUID, int] = {}
        self._unannounced: set[uuid.UUID] = set()
        self._new_listener = asyncio.Event()
        self._heartbeats: asyncio.Task[None] | None = None
        self._take = client.register_script(_TAKE)

    def stream_key(self, conversation_id: uuid.UUID) -> str:
        if self._cluster:
            # One of `CLUSTER_STREAM_SLOTS` hash tags: a run's stream and writer key share a slot (its scripts
            # touch both), and the streams a process follows fall into few slots, each read by one XREAD.
            tag = slot_tag(f"r{conversation_id.int % CLUSTER_STREAM_SLOTS}", cluster=True)
            return f"{self._prefix}:run:{tag}:{conversation_id}"
        return f"{self._prefix}:run:{conversation_id}"

    def writer_key(self, stream_key: str) -> str:
        return f"{stream_key}:writer"

    # Lifecycle ---------------------------------------------------------------------------------------
    async def start(self, runs: RunRegistry) -> None:
        self._runs = runs
        try:
            if self._cluster:  # the cluster's nodes and slots first: its pub/sub connects to one of them
                await cast(RedisCluster, self._client).initialize()
            self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            await self._pubsub.subscribe(self.stop_channel, self.listening_channel, self.released_channel)
        except (RedisError, OSError) as exc:  # as with an unreachable DATABASE_URL, Parley does not start
            where = describe(self._client)
            raise StartupError(f"cannot reach Redis at {where} ({exc}); start it or fix REDIS_URL") from exc
        self._requests = asyncio.create_task(self._serve_requests(), name="relay-requests")
        self._writer.start()
        self._heartbeats = asyncio.create_task(self._beat_forever(), name="relay-heartbeats")

    async def aclose(self) -> None:
        for task in (self._requests, self._heartbeats):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._reader.aclose()
        await self._writer.aclose()
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py

    # Publishing (the hot path: queue only) ------------------------------------------------------------
    def publish(self, run: Run) -> None:
        run.observer = self
        self._live[run.conversation_id] = run
        # The new run replaces the conversation's previous stream (its ids start again at 1).
        self._queue(("new", self.stream_key(run.conversation_id), 0, b"", None, run), urgent=False)

    def appended(self, run: Run, number: int, encoded: bytes) -> None:
        # The first event goes out at once, so a reconnect to another replica finds the run.
        note = run.handover_note if number == 1 else None
        self._queue(("event", self.stream_key(run.conversation_id), number, encoded, note, run), urgent=number == 1)

    def finished(self, run: Run) -> None:
        if self._live.get(run.conversation_id) is run:
            del self._live[run.conversation_id]
        self._queue(("end", self.stream_key(run.conversation_id), len(run.events) + 1, b"", None, run), urgent=True)

    def adopt(self, run: Run) -> None:
        run.observer = self
        self._live[run.conversation_id] = run
        # The stream stays (its holder died or let go); it lives on from now, refreshed like any live run's.
        self._queue(("alive", self.stream_key(run.conversation_id), 0, b"", None, None), urgent=True)

    def release(self, run: Run) -> None:
        run.observer = None
        if self._live.get(run.conversation_id) is run:
            del self._live[run.conversation_id]
        self._queue(("alive", self.stream_key(run.conversation_id), 0, b"", None, None), urgent=True)

    async def announce_release(self) -> None:
        try:
            await self.flush()
            await self._client.publish(self.released_channel, "released")
        except (RedisError, OSError) as exc:  # the others take the answers over after the stale window instead
            _logger.warning("relay_unreachable", error=str(exc))

    def on_release(self, callback: Callable[[], None]) -> None:
        self._on_release.append(callback)

    def _queue(self, entry: Entry, *, urgent: bool) -> None:
        self._writer.queue(entry, urgent=urgent)

    async def flush(self) -> bool:
        """Send everything queued now (False when Redis could not be reached: it is kept for the next try)."""
        return await self._writer.flush()

    # Serving other replicas -------------------------------------------------------------------------
    async def _serve_requests(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            except (RedisError, OSError) as exc:  # the next read reconnects and subscribes again
                _logger.warning("relay_subscription_lost", error=str(exc))
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            if message is not None:
                self._handle(_text(message["channel"]), _text(message["data"]))

    def _handle(self, channel: str, data: str) -> None:
        if channel == self.released_channel:
            for callback in self._on_release:
                callback()
            return
        if channel == self.listening_channel and "\n" in data:  # a cluster's batch of heartbeats
            for line in data.split("\n"):
                self._handle(channel, line)
            return
        # A stop carries its reason (what the run's end says, and whether it still gets a title); a heartbeat
        # how long its reader counts as attached.
        conversation, _, argument = data.partition(" ")
        try:
            conversation_id = uuid.UUID(conversation)
            for_seconds = float(argument) if argument and channel == self.listening_channel else 0.0
        except ValueError:
            _logger.warning("relay_message_malformed", channel=channel)
            return
        run = self._runs.get(conversation_id) if self._runs is not None else None
        if run is None or run.finished:
            return  # held by another replica, or over already
        if channel == self.stop_channel:
            run.cancel(argument if argument in STOP_REASONS else "stopped")
        elif channel == self.listening_channel:
            run.remote_listener_seen(for_seconds=for_seconds)

    # Reaching other replicas' runs -------------------------------------------------------------------
    async def find(self, conversation_id: uuid.UUID) -> RunFeed | None:
        try:
            latest = await self._latest(self.stream_key(conversation_id))
        except (RedisError, OSError) as exc:  # what this replica holds can still be served
            _logger.warning("relay_unreachable", error=str(exc))
            return None
        if latest is None:
            return None
        entry_id, fields = latest
        end = int(entry_id.partition(b"-")[0]) if b"end" in fields else None
        return RemoteRun(self, conversation_id, end_number=end)

    async def request_stop(
        self, conversation_id: uuid.UUID, *, wait_seconds: float, reason: StopReason = "stopped"
    ) -> None:
        try:
            await self._stop_and_wait(conversation_id, wait_seconds=wait_seconds, reason=reason)
        except (RedisError, OSError) as exc:  # the caller reports what is saved so far
            _logger.warning("relay_unreachable", error=str(exc))

    async def _stop_and_wait(self, conversation_id: uuid.UUID, *, wait_seconds: float, reason: StopReason) -> None:
        key = self.stream_key(conversation_id)
        latest = await self._latest(key)
        if latest is None or b"end" in latest[1]:
            return  # nothing is being generated anywhere
        with self._reader.follow(key, after=latest[0]) as feed:
            await self._client.publish(self.stop_channel, f"{conversation_id} {reason}")
            try:
                async with asyncio.timeout(wait_seconds):
                    async for entries in feed.batches():
                        if any(b"end" in fields for _, fields in entries):
                            return
                    return  # the stream is gone
            except TimeoutError:
                pass
        _logger.warning("remote_stop_unconfirmed", conversation_id=str(conversation_id), wait_seconds=wait_seconds)

    def listening(self, conversation_id: uuid.UUID) -> None:
        """A reader here attached to a conversation's run held elsewhere: its holder hears so at once, then every
        `heartbeat_interval` until `not_listening`."""
        count = self._listening.get(conversation_id, 0)
        self._listening[conversation_id] = count + 1
        if count == 0:
            self._unannounced.add(conversation_id)
            self._new_listener.set()

    def not_listening(self, conversation_id: uuid.UUID) -> None:
        count = self._listening.get(conversation_id, 0) - 1
        if count > 0:
            self._listening[conversation_id] = count
        else:
            self._listening.pop(conversation_id, None)
            self._unannounced.discard(conversation_id)

    async def _beat_forever(self) -> None:
        """The heartbeats of every attached reader of this process, as one pipeline per interval (and one for
        readers that just attached), so their number never adds connections."""
        seconds = f"{self.heartbeat_interval * 2:.3f}"
        next_round = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_round - time.monotonic())):
                    await self._new_listener.wait()
            self._new_listener.clear()
            if time.monotonic() >= next_round:
                due = list(self._listening)
                next_round = time.monotonic() + self.heartbeat_interval
            else:
                due = [conversation for conversation in self._unannounced if conversation in self._listening]
            self._unannounced.clear()
            if not due:
                continue
            beats = [f"{conversation_id} {seconds}" for conversation_id in due]
            try:
                if self._cluster:  # several beats a message, one line each (see `_handle`)
                    for start in range(0, len(beats), _HEARTBEATS_PER_MESSAGE):
                        message = "\n".join(beats[start : start + _HEARTBEATS_PER_MESSAGE])
                        await self._client.publish(self.listening_channel, message)
                else:  # one message a beat, as replicas of earlier versions read them
                    pipe = self._client.pipeline(transaction=False)
                    for beat in beats:
                        pipe.publish(self.listening_channel, beat)
                    await pipe.execute()
            except (RedisError, OSError) as exc:  # the next beat may get through; the holder forgives one
                _logger.warning("relay_heartbeat_failed", error=str(exc), conversations=len(due))

    def redis_connections(self) -> int:
        """Redis connections this relay's process holds: the command pool's and the stream reader's."""
        return connections(self._client) + self._reader.connections()

    async def read(self, conversation_id: uuid.UUID, *, after: int) -> AsyncIterator[bytes]:
        """The encoded events of a conversation's stream after number `after`, as they come, until its end (or
        until the stream is gone: its holder died and nobody took the answer over)."""
        with self._reader.follow(self.stream_key(conversation_id), after=f"{after}-0".encode()) as feed:
            async for entries in feed.batches():
                chunk: list[bytes] = []
                for _, fields in entries:
                    payload = fields.get(b"e")
                    if payload is None:  # the end marker
                        if chunk:
                            yield b"".join(chunk)
                        return
                    chunk.append(payload)
                if chunk:
                    yield b"".join(chunk)

    async def replay(
        self, conversation_id: uuid.UUID, *, writer: tuple[uuid.UUID, str] | None = None
    ) -> Relayed | None:
        key = self.stream_key(conversation_id)
        try:
            if writer is None:
                entries = cast(list[_StreamEntry], await self._client.xrange(key, count=STREAM_MAXLEN * 2))
            else:
                message_id, token = writer
                taken = await self._take(
                    keys=[key, self.writer_key(key)],
                    args=[str(message_id), f"{message_id}/{token}", LIVE_TTL_MS, STREAM_MAXLEN * 2],
                )
                if taken is None:
                    return None  # another answer's stream
                entries = [(entry_id, _pairs(flat)) for entry_id, flat in taken]
        except (RedisError, OSError) as exc:
            _logger.warning("relay_unreachable", error=str(exc))
            return None
        events: list[bytes] = []
        ended = False
        note: bytes | None = None
        for entry_id, fields in entries:
            if int(entry_id.partition(b"-")[0]) != len(events) + 1:
                return None  # trimmed, or not this run's: what clients saw cannot be rebuilt
            payload = fields.get(b"e")
            if payload is None:
                ended = True
                break
            if not events:
                note = fields.get(b"h")
            events.append(payload)
        return Relayed(events, note, ended) if events else None

    async def _latest(self, key: str) -> _StreamEntry | None:
        entries = cast(list[_StreamEntry], await self._client.xrevrange(key, count=1))
        return entries[0] if entries else None


class RemoteRun:
    """A run held by another replica, read from its Redis stream."""

    def __init__(self, relay: RedisRelay, conversation_id: uuid.UUID, *, end_number: int | None) -> None:
        self._relay = relay
        self.conversation_id = conversation_id
        # The end marker's number when the run had already finished at lookup.
        self.end_number = end_number

    async def listen(self, *, after: int = 0, grace_seconds: float) -> AsyncGenerator[bytes, None]:
        """Events after number `after`, then live ones until the end marker. `grace_seconds` is the holder's
        business: this reader's heartbeats tell it someone is listening."""
        if self.end_number is not None and after >= self.end_number:
            return
        live = self.end_number is None
        if live:
            self._relay.listening(self.conversation_id)
        try:
            async for chunk in self._relay.read(self.conversation_id, after=after):
                yield chunk
        finally:
            if live:
                self._relay.not_listening(self.conversation_id)


def _block_ms(client: RedisClient) -> int:
    """How long one XREAD may block: `_BLOCK_MS`, or half the client's socket timeout when that is shorter. A
    blocking read is a read like any other to redis-py, and one that outlasts the socket timeout fails with
    `TimeoutError` (and drops the connection) instead of returning empty; half leaves room for the round trip."""
    timeout = socket_timeout(client)
    if timeout is None:  # no socket timeout at all
        return _BLOCK_MS
    return max(1, min(_BLOCK_MS, int(timeout * 1000 / 2)))


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    """A stream entry's fields as a script returns them (a flat list: field, value, …), as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
