"""What the relay (`chat.redis_relay`) writes to Redis for the runs this process holds: their events, end
markers, writers and keep-alives, queued on the hot path and sent by one flusher task.

No network round trip per token: queuing only appends to a list; the flusher sends what has piled up every
`flush_interval` (25 ms) as one pipeline, and at once for a run's first event and its end. Events and end markers
go through a script (`_APPEND`) that refuses them unless the stream's writer key still names their run's writer:
a replica whose answer was taken over (it stalled past the stale window, alive) can add nothing to the stream any
more, and its run is fenced (it stops).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any, Literal

import structlog
from redis.exceptions import RedisError

from parley.chat.runs import Run
from parley.redis_client import RedisClient, run_script

_logger = structlog.get_logger("parley.chat.relay")

# Entries kept per stream (approximately). Local replay keeps every event; a reconnect elsewhere after more than
# this many events of one answer (long answers are a few thousand tokens) replays only the most recent ones.
STREAM_MAXLEN = 10_000
# A live run's stream outlives its holder by at most this much; the holder refreshes it every third of it.
LIVE_TTL_MS = 60_000
# Entries queued while Redis cannot be reached, at most (the oldest are dropped beyond, with a warning).
_MAX_PENDING = 100_000
_RETRY_SECONDS = 1.0

Kind = Literal["new", "event", "end", "alive"]
# kind, stream key, event number, encoded event, hand-over note (first events only), run (its writer)
Entry = tuple[Kind, str, int, bytes, bytes | None, Run | None]

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


def writer_of(run: Run) -> str:
    """A run's writer as its stream's writer key holds it."""
    return f"{run.message_id}/{run.writer}"


class StreamWriter:
    """Queues this process's stream writes and sends them in order, one pipeline per flush; keeps the streams
    of `live_keys()` alive while nothing else is written."""

    def __init__(
        self,
        client: RedisClient,
        *,
        writer_key: Callable[[str], str],
        live_keys: Callable[[], Iterable[str]],
        retention_ms: int,
        flush_interval: float,
    ) -> None:
        self._client = client
        self._writer_key = writer_key
        self._live_keys = live_keys
        self._retention_ms = retention_ms
        self._flush_interval = flush_interval
        self._pending: list[Entry] = []
        self._has_pending = asyncio.Event()
        self._urgent = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._stopping = False
        self._flusher: asyncio.Task[None] | None = None
        self._append = client.register_script(_APPEND)

    def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_forever(), name="relay-flusher")

    async def aclose(self) -> None:
        """Send what is still queued (5 s at most), then stop."""
        if self._flusher is None:
            return
        self._stopping = True
        self._urgent.set()
        self._has_pending.set()
        try:
            async with asyncio.timeout(5):
                await self._flusher
        except TimeoutError:
            _logger.warning("relay_entries_lost", entries=len(self._pending))

    def queue(self, entry: Entry, *, urgent: bool) -> None:
        self._pending.append(entry)
        self._has_pending.set()
        if urgent:
            self._urgent.set()

    async def _flush_forever(self) -> None:
        keepalive = LIVE_TTL_MS / 3000
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(keepalive):
                    await self._has_pending.wait()
            if not self._has_pending.is_set():
                for key in self._live_keys():
                    self._pending.append(("alive", key, 0, b"", None, None))
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
                    expire = LIVE_TTL_MS if number == 1 else self._retention_ms if kind == "end" else 0
                    args = [writer_of(run), f"{number}-0", STREAM_MAXLEN, expire, LIVE_TTL_MS, *fields]
                    await run_script(pipe, self._append, keys=[key, self._writer_key(key)], args=args)
                    appends.append((commands, run))
                    commands += 1
                elif kind == "new" and run is not None:
                    pipe.delete(key)
                    pipe.set(self._writer_key(key), writer_of(run), px=LIVE_TTL_MS)
                    commands += 2
                else:
                    pipe.pexpire(key, LIVE_TTL_MS)
                    pipe.pexpire(self._writer_key(key), LIVE_TTL_MS)
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
