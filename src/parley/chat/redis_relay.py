"""The Redis twin of the relay (`parley.chat.relay`): several replicas behind a load balancer serve each other's
answers. Imported only when `REDIS_URL` is set.

What goes through Redis (names under the configured prefix, `parley` by default):

- `{prefix}:run:{conversation_id}`: a stream with the conversation's latest run. Entry ids are the SSE event
  numbers (`<n>-0`, with `n` also as a field, `e` the encoded event), so a reader resumes after Last-Event-ID by
  reading after id `<n>-0`. When the run finishes, an end marker (`end` field, id `<last + 1>-0`, never sent to
  clients) closes it and the key expires after `replay_retention_seconds`. While the run is live the key lives
  `_LIVE_TTL_MS` and the holder refreshes it, so the stream of a replica that died vanishes and its readers stop.
- `{prefix}:chat:stop`: pub/sub; the payload is a conversation id whose live run its holder cancels.
- The first entry of a run also carries `h`, its hand-over note (`chat.handover`): what another replica needs
  to continue the answer should its holder die. It never reaches clients. A replica taking a run over reads the
  stream from its start (`replay`) and continues it with the next ids (`adopt`), so readers tailing it, here or
  elsewhere, see one answer.
- `{prefix}:run:{conversation_id}:writer`: the stream's writer, `<message id>/<writer token>` (`chat.handover`),
  living as long as the stream. Events and the end marker are appended by a script (`_APPEND`) that refuses them
  unless it still names their run's writer: a replica whose answer was taken over (it stalled past the stale
  window, alive) can add nothing to the stream any more, and stops. A new run sets it; a replica taking a run
  over sets it in the script that reads the stream back (`_TAKE`), before its own first event.
- `{prefix}:chat:released`: pub/sub; a draining replica that handed answers over says so, so that the others
  take them at once rather than after the stale window.
- `{prefix}:chat:listening`: pub/sub heartbeats of remote readers, `"<conversation id> <seconds>"`. A replica
  reading another's run through Redis publishes one every `heartbeat_interval` while attached; the holder counts
  that as a listener for `<seconds>` (two intervals, so one lost beat is forgiven), and its disconnect grace
  period starts only once the heartbeats stop. Pub/sub keeps this state where it is used, in the holder's memory,
  with no keys to clean up; a heartbeat lost to a reconnect is covered by the next one.

No network round trip per token: appends only queue an entry; one flusher per process sends what has piled up
every `flush_interval` (25 ms) as one pipeline, and at once for a run's first event and its end.

Bounded connections however many clients read: the streams this process's clients follow are read by one
`StreamReader` (`chat.redis_streams`: one multi-stream `XREAD BLOCK` per thousand streams, each on a connection of
its own), heartbeats go out from one task as one pipeline per interval, and every other command shares a
blocking pool of `_POOL_CONNECTIONS` (a burst waits for a free connection instead of failing).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Literal, cast

import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from parley.chat.redis_streams import StreamReader
from parley.chat.relay import STOP_REASONS, Relayed, StopReason
from parley.chat.runs import Run, RunFeed, RunRegistry
from parley.config import LLMSettings
from parley.db import StartupError

_logger = structlog.get_logger("parley.chat.relay")

# Entries kept per stream (approximately). Local replay keeps every event; a reconnect elsewhere after more than
# this many events of one answer (long answers are a few thousand tokens) replays only the most recent ones.
STREAM_MAXLEN = 10_000
# A live run's stream outlives its holder by at most this much; the holder refreshes it every third of it.
_LIVE_TTL_MS = 60_000
# A finished run's stream stays at least this long, so readers tailing it still see its end.
_MIN_RETENTION_MS = 5_000
# How long one XREAD blocks at most. A block must end well before the client's socket timeout (redis-py's
# default: 5 s), or a quiet stream (a slow first token, retrieval, a fallback) reads as a dead connection and
# cuts off the reader: see `_block_ms`.
_BLOCK_MS = 5_000
# Connections of the process's command pool (everything but the stream reader's), and how long a command waits
# for one when all are busy. Redis runs one command at a time: more would only queue there instead of here.
_POOL_CONNECTIONS = 32
_POOL_WAIT_SECONDS = 10.0
# Entries queued while Redis cannot be reached, at most (the oldest are dropped beyond, with a warning).
_MAX_PENDING = 100_000
_RETRY_SECONDS = 1.0

_Kind = Literal["new", "event", "end", "alive"]
# kind, stream key, event number, encoded event, hand-over note (first events only), run (its writer)
_Entry = tuple[_Kind, str, int, bytes, bytes | None, Run | None]

# Append one entry (an event or the end marker) to a run's stream, only while its writer key (KEYS[2]) names the
# appending run's writer (ARGV[1]), or names none (a stream from before writer keys, or Redis restarted empty:
# the writer takes it). ARGV: writer, entry id, stream MAXLEN (approximate), expiry in ms to set on both keys
# (0: unchanged), expiry of a writer key it creates, then the entry's fields and values. 1: appended, 0: refused.
_APPEND = """
local current = redis.call('GET', KEYS[2])
if current and current ~= ARGV[1] then return 0 end
if not current then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[5]) end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], ARGV[2], unpack(ARGV, 6))
if tonumber(ARGV[4]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return 1
"""
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


# Seconds a Redis reply may take before the connection counts as dead (redis-py's own default, made explicit so
# that `_block_ms` knows it; a `socket_timeout` in REDIS_URL's query wins).
_SOCKET_TIMEOUT = 5.0


def connect(url: str) -> Redis:
    """The process's one Redis client (a bounded, blocking connection pool; `max_connections` in REDIS_URL's
    query wins); closed with `aclose()` at shutdown."""
    pool = BlockingConnectionPool.from_url(
        url, socket_timeout=_SOCKET_TIMEOUT, max_connections=_POOL_CONNECTIONS, timeout=_POOL_WAIT_SECONDS
    )
    return Redis.from_pool(pool)


class RedisRelay:
    """Publishes this process's runs to Redis streams, serves stop requests and remote-listener heartbeats for
    them, and reads other replicas' runs."""

    can_hand_over = True

    def __init__(self, client: Redis, *, prefix: str, settings: LLMSettings, flush_interval: float = 0.025) -> None:
        self._client = client
        self._prefix = prefix
        self._block_ms = _block_ms(client)
        self._retention_ms = max(_MIN_RETENTION_MS, int(settings.replay_retention_seconds * 1000))
        self.heartbeat_interval = min(5.0, max(0.1, settings.disconnect_grace_seconds / 3))
        self._flush_interval = flush_interval
        self.stop_channel = f"{prefix}:chat:stop"
        self.listening_channel = f"{prefix}:chat:listening"
        self.released_channel = f"{prefix}:chat:released"
        self._on_release: list[Callable[[], None]] = []
        self._pending: list[_Entry] = []
        self._has_pending = asyncio.Event()
        self._urgent = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._stopping = False
        self._live: dict[uuid.UUID, Run] = {}
        self._runs: RunRegistry | None = None
        self._pubsub: PubSub | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._requests: asyncio.Task[None] | None = None
        self._reader = StreamReader(client, prefix=prefix, block_ms=self._block_ms)
        # Conversations whose runs (held elsewhere) readers here follow, with how many; those not yet announced.
        self._listening: dict[uuid.UUID, int] = {}
        self._unannounced: set[uuid.UUID] = set()
        self._new_listener = asyncio.Event()
        self._heartbeats: asyncio.Task[None] | None = None
        self._append = client.register_script(_APPEND)
        self._take = client.register_script(_TAKE)

    def stream_key(self, conversation_id: uuid.UUID) -> str:
        return f"{self._prefix}:run:{conversation_id}"

    def writer_key(self, stream_key: str) -> str:
        return f"{stream_key}:writer"

    # Lifecycle ---------------------------------------------------------------------------------------
    async def start(self, runs: RunRegistry) -> None:
        self._runs = runs
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            await self._pubsub.subscribe(self.stop_channel, self.listening_channel, self.released_channel)
        except (RedisError, OSError) as exc:  # as with an unreachable DATABASE_URL, Parley does not start
            options = self._client.connection_pool.connection_kwargs
            where = options.get("path") or f"{options.get('host')}:{options.get('port')}"
            raise StartupError(f"cannot reach Redis at {where} ({exc}); start it or fix REDIS_URL") from exc
        self._requests = asyncio.create_task(self._serve_requests(), name="relay-requests")
        self._flusher = asyncio.create_task(self._flush_forever(), name="relay-flusher")
        self._heartbeats = asyncio.create_task(self._beat_forever(), name="relay-heartbeats")

    async def aclose(self) -> None:
        for task in (self._requests, self._heartbeats):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._reader.aclose()
        if self._flusher is not None:
            self._stopping = True
            self._urgent.set()
            self._has_pending.set()
            try:
                async with asyncio.timeout(5):
                    await self._flusher
            except TimeoutError:
                _logger.warning("relay_entries_lost", entries=len(self._pending))
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

    def _queue(self, entry: _Entry, *, urgent: bool) -> None:
        self._pending.append(entry)
        self._has_pending.set()
        if urgent:
            self._urgent.set()

    async def _flush_forever(self) -> None:
        keepalive = _LIVE_TTL_MS / 3000
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(keepalive):
                    await self._has_pending.wait()
            if not self._has_pending.is_set():
                for run in self._live.values():
                    self._pending.append(("alive", self.stream_key(run.conversation_id), 0, b"", None, None))
            elif not self._urgent.is_set():
                # Let a batch gather, unless a first event or an end is waiting.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._flush_interval):
                        await self._urgent.wait()
            try:
                delivered = await self.flush()
            except Exception:  # a bug here must not end relaying for the life of the process
                _logger.exception("relay_flush_crashed")
                delivered = False
            if self._stopping and not self._pending:
                return
            if not delivered:
                await asyncio.sleep(_RETRY_SECONDS)

    async def flush(self) -> bool:
        """Send everything queued, in order, as one pipeline. False when Redis could not be reached (the entries
        are kept for the next attempt)."""
        async with self._flush_lock:
            batch, self._pending = self._pending, []
            self._has_pending.clear()
            self._urgent.clear()
            if not batch:
                return True
            pipe = self._client.pipeline(transaction=False)
            # The appends' positions in the pipeline's replies, with their runs: a refused one was fenced.
            appends: list[tuple[int, Run]] = []
            commands = 0
            for kind, key, number, payload, note, run in batch:
                if kind in ("event", "end") and run is not None:
                    fields: list[bytes | str | int] = ["n", number]
                    fields += ["e", payload] if kind == "event" else ["end", 1]
                    if note is not None:
                        fields += ["h", note]
                    expire = _LIVE_TTL_MS if number == 1 else self._retention_ms if kind == "end" else 0
                    writer = _writer(run)
                    args = [writer, f"{number}-0", STREAM_MAXLEN, expire, _LIVE_TTL_MS, *fields]
                    await self._append(keys=[key, self.writer_key(key)], args=args, client=pipe)
                    appends.append((commands, run))
                    commands += 1
                elif kind == "new" and run is not None:
                    pipe.delete(key)
                    pipe.set(self.writer_key(key), _writer(run), px=_LIVE_TTL_MS)
                    commands += 2
                else:
                    pipe.pexpire(key, _LIVE_TTL_MS)
                    pipe.pexpire(self.writer_key(key), _LIVE_TTL_MS)
                    commands += 2
            try:
                results: list[Any] = await pipe.execute(raise_on_error=False)
            except (RedisError, OSError) as exc:
                kept = batch + self._pending
                self._pending = kept[-_MAX_PENDING:]
                self._has_pending.set()
                _logger.warning(
                    "relay_flush_failed", error=str(exc), entries=len(kept), dropped=len(kept) - len(self._pending)
                )
                return False
            failures = [result for result in results if isinstance(result, Exception)]
            if failures:
                _logger.warning("relay_entries_refused", error=str(failures[0]), count=len(failures))
            for position, run in appends:
                if results[position] == 0 and run.fence():  # another replica writes this answer now
                    _logger.warning("answer_fenced", message_id=str(run.message_id), by="relay")
            return True

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
            pipe = self._client.pipeline(transaction=False)
            for conversation_id in due:
                pipe.publish(self.listening_channel, f"{conversation_id} {seconds}")
            try:
                await pipe.execute()
            except (RedisError, OSError) as exc:  # the next beat may get through; the holder forgives one
                _logger.warning("relay_heartbeat_failed", error=str(exc), conversations=len(due))

    def redis_connections(self) -> int:
        """Redis connections this relay's process holds: the command pool's and the stream reader's."""
        pool = self._client.connection_pool
        return sum(count for count, _ in pool.get_connection_count()) + self._reader.connections()

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
                    args=[str(message_id), f"{message_id}/{token}", _LIVE_TTL_MS, STREAM_MAXLEN * 2],
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


def _block_ms(client: Redis) -> int:
    """How long one XREAD may block: `_BLOCK_MS`, or half the client's socket timeout when that is shorter. A
    blocking read is a read like any other to redis-py, and one that outlasts the socket timeout fails with
    `TimeoutError` (and drops the connection) instead of returning empty; half leaves room for the round trip."""
    timeout = client.connection_pool.connection_kwargs.get("socket_timeout", _SOCKET_TIMEOUT)
    if not timeout:  # None: no socket timeout at all
        return _BLOCK_MS
    return max(1, min(_BLOCK_MS, int(float(timeout) * 1000 / 2)))


def _writer(run: Run) -> str:
    """A run's writer as its stream's writer key holds it."""
    return f"{run.message_id}/{run.writer}"


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    """A stream entry's fields as a script returns them (a flat list: field, value, …), as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
