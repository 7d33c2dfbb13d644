"""Reads from a streaming standby (`DATABASE_READ_URL`), with read-your-writes for the user who just wrote.

Conversation lists, history pages, analytics and search read from the standby (`ReadSessionDep`); everything
else, and every write, stays on the primary.

**Why WAL positions, not a time window.** "Send a user's reads to the primary for N seconds after they wrote" is
only correct while replication lag stays under N, which is exactly when nobody needs it; under load, or after a
network blip, the lag passes N and the user sees their new conversation vanish. Instead, after a transaction of
a user commits a write, the primary's WAL insert position (`pg_current_wal_insert_lsn()`, at or past the end of
that commit record) is remembered for the user. A read of that user uses the standby only once the standby has
replayed up to that position (`pg_last_wal_replay_lsn()`, one cheap query on the connection the read then uses);
until then the read goes to the primary. That is correct whatever the lag, and costs the writer nothing once the
standby has caught up (usually within milliseconds).

The positions live in this process (one `parley serve`) or in Redis with `REDIS_URL` (every process and replica
sees them: a user's next request may land anywhere). They expire after `replica_max_lag_seconds` plus a margin:
by then the lag bound below guarantees any standby still in use has replayed them.

**Lag bound and failures.** A monitor samples the primary's WAL position and the standby's replay position every
`replica_check_interval_seconds`. The standby is used only while it has replayed a primary position sampled at
most `replica_max_lag_seconds` ago; a standby that lags more, is paused, is not a standby, or does not answer
gets no reads until a later check finds it caught up: reads fall back to the primary, never fail. A read that
finds the standby's connection gone (stopped, restarted) also falls back and marks it down.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

import asyncpg
import structlog
from sqlalchemy import event, text
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from parley.config import DatabaseSettings, Settings
from parley.kit.postgres_url import engine_url

if TYPE_CHECKING:
    from parley.redis_client import RedisClient

_logger = structlog.get_logger("parley.read_replica")

# Positions as integers (bytes since 0/0), comparable in Python and storable in Redis.
_PRIMARY_POSITION = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint"
_REPLAY_POSITION = "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"
_STANDBY_STATE = "SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"
# A position is kept this much longer than the lag bound: time between the commit and its recording, clocks.
_POSITION_MARGIN_SECONDS = 5.0
# Errors that mean "the standby cannot serve this read": fall back to the primary.
_STANDBY_FAILURES = (SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class WriteTrackingSession(Session):
    """The primary's sessions when a standby is configured: they note whether their transaction wrote (an ORM
    flush, or a statement that is not a plain SELECT), so only writing units of work record a WAL position."""


@event.listens_for(WriteTrackingSession, "after_flush")
def _flushed(session: Session, flush_context: UOWTransaction) -> None:
    session.info["wrote"] = True


@event.listens_for(WriteTrackingSession, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    # Textual SQL may write (a conservative guess: at worst the writer's next read checks the standby's position).
    if not state.is_select:
        state.session.info["wrote"] = True


class WritePositions(Protocol):
    """The WAL position of each user's latest committed write, for as long as it may matter."""

    async def remember(self, user_id: uuid.UUID, position: int) -> None: ...

    async def pending(self, user_id: uuid.UUID) -> int | None: ...

    async def forget(self, user_id: uuid.UUID, replayed: int) -> None:
        """Drop the user's position if it is at or before `replayed` (the standby has it)."""

    async def aclose(self) -> None: ...


class MemoryWritePositions:
    """Positions in this process: right for one `parley serve` process (several need Redis, as for streams)."""

    def __init__(self, *, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._positions: dict[uuid.UUID, tuple[int, float]] = {}

    async def remember(self, user_id: uuid.UUID, position: int) -> None:
        known = self._positions.get(user_id)
        self._positions[user_id] = (max(position, known[0]) if known else position, time.monotonic() + self._ttl)

    async def pending(self, user_id: uuid.UUID) -> int | None:
        known = self._positions.get(user_id)
        if known is None:
            return None
        if known[1] <= time.monotonic():
            del self._positions[user_id]
            return None
        return known[0]

    async def forget(self, user_id: uuid.UUID, replayed: int) -> None:
        known = self._positions.get(user_id)
        if known is not None and known[0] <= replayed:
            del self._positions[user_id]

    def prune(self) -> None:
        now = time.monotonic()
        for user_id in [u for u, (_, expires) in self._positions.items() if expires <= now]:
            del self._positions[user_id]

    async def aclose(self) -> None:
        self._positions.clear()


# Keeps the highest position: two processes recording one user's writes may finish in either order.
_REMEMBER_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""


class RedisWritePositions:
    """Positions in Redis, shared by every process and replica. Entries expire on their own; no `forget` round
    trip is spent (a caught-up position is recognised from the monitor's last replay position, in memory)."""

    def __init__(self, client: RedisClient, *, prefix: str, ttl_seconds: float) -> None:
        self._client = client
        self._prefix = f"{prefix}:read-your-writes:"
        self._ttl_ms = int(ttl_seconds * 1000)
        self._remember = client.register_script(_REMEMBER_SCRIPT)

    async def remember(self, user_id: uuid.UUID, position: int) -> None:
        await self._remember(keys=[self._prefix + str(user_id)], args=[position, self._ttl_ms])

    async def pending(self, user_id: uuid.UUID) -> int | None:
        found = await self._client.get(self._prefix + str(user_id))
        return int(found) if found is not None else None

    async def forget(self, user_id: uuid.UUID, replayed: int) -> None:
        return None

    async def aclose(self) -> None:
        await self._client.aclose()


class ReadReplica:
    """The standby's engine, the monitor that decides whether it may serve reads, and the per-user write
    positions that keep read-your-writes. `Database` owns one when `DATABASE_READ_URL` is set."""

    def __init__(self, engine: AsyncEngine, positions: WritePositions, settings: DatabaseSettings) -> None:
        self.engine = engine
        self.positions = positions
        self.max_lag_seconds = settings.replica_max_lag_seconds
        self.check_interval_seconds = settings.replica_check_interval_seconds
        self.timeout_seconds = settings.replica_connect_timeout_seconds
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._primary: AsyncEngine | None = None
        # (monotonic time, primary WAL position) samples, oldest first, covering the lag bound.
        self._samples: deque[tuple[float, int]] = deque()
        # The standby serves reads until this monotonic time (0: not now), from the newest primary sample it
        # has replayed plus the lag bound; a stalled monitor therefore stops reads on the standby by itself.
        self._fresh_until = 0.0
        # The standby's replay position at its last check: positions at or before it need no question.
        self.replayed = -1
        self._monitor: asyncio.Task[None] | None = None
        self._warned: str | None = None
        # After a write position could not be recorded: no standby reads here before this monotonic time.
        self._blocked_until = 0.0
        self._position_ttl = settings.replica_max_lag_seconds + _POSITION_MARGIN_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> ReadReplica | None:
        """The read replica `settings` ask for, or None without `DATABASE_READ_URL`."""
        if settings.database_read_url is None:
            return None
        ttl = settings.database.replica_max_lag_seconds + _POSITION_MARGIN_SECONDS
        positions: WritePositions
        if settings.redis_url is not None:
            from redis.asyncio import Redis

            from parley.redis_client import connect

            timeout = settings.database.replica_connect_timeout_seconds
            client: RedisClient = (
                connect(settings.redis_url, cluster=True, timeout=timeout)
                if settings.redis_cluster
                else Redis.from_url(settings.redis_url, socket_timeout=timeout)
            )
            positions = RedisWritePositions(client, prefix=settings.redis_key_prefix, ttl_seconds=ttl)
        else:
            positions = MemoryWritePositions(ttl_seconds=ttl)
        return cls(create_replica_engine(settings.database_read_url, settings.database), positions, settings.database)

    @property
    def serving(self) -> bool:
        """Whether the standby takes reads now (reachable, a standby, within the lag bound)."""
        now = time.monotonic()
        return now < self._fresh_until and now >= self._blocked_until

    def mark_down(self, reason: str) -> None:
        """Stop reading from the standby until a check finds it good again."""
        if self._fresh_until:
            _logger.warning("read_replica_unavailable", reason=reason)
        self._fresh_until = 0.0

    async def start(self, primary: AsyncEngine) -> None:
        """Check the standby once (a down standby does not stop start-up), then keep checking."""
        self._primary = primary
        await self.check()
        self._monitor = asyncio.create_task(self._check_forever(), name="read-replica-monitor")

    async def stop(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        await self.positions.aclose()
        await self.engine.dispose()

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval_seconds)
            try:
                await self.check()
            except Exception:  # a bug in a check must not end the checks; the standby's freshness then lapses
                _logger.exception("read_replica_check_crashed")

    async def check(self) -> None:
        """One comparison of the primary's WAL position with the standby's replay position."""
        if self._primary is None:
            return
        now = time.monotonic()
        try:
            sampled = int(await _fetch(self._primary, _PRIMARY_POSITION, self.timeout_seconds))
        except _STANDBY_FAILURES as exc:
            # Without the primary's position freshness cannot be judged; reads go to the primary (which then
            # fails or not on its own).
            self.mark_down(f"primary position unavailable: {type(exc).__name__}")
            return
        self._samples.append((now, sampled))
        while len(self._samples) > 1 and self._samples[1][0] <= now - self.max_lag_seconds:
            self._samples.popleft()
        if isinstance(self.positions, MemoryWritePositions):
            self.positions.prune()
        try:
            in_recovery, replayed = await _fetch_row(self.engine, _STANDBY_STATE, self.timeout_seconds)
        except _STANDBY_FAILURES as exc:
            self._warn_once("unreachable", f"{type(exc).__name__}: {exc}")
            self.mark_down("unreachable")
            return
        if not in_recovery or replayed is None:
            # Not (or no longer) a standby, e.g. promoted: its data may have parted from the primary's.
            self._warn_once("not_a_standby", "DATABASE_READ_URL is not in recovery; reads stay on the primary")
            self.mark_down("not a standby")
            return
        self.replayed = max(self.replayed, int(replayed))
        covered = [taken for taken, position in self._samples if position <= self.replayed]
        if not covered:
            self.mark_down("lagging")
            return
        if not self._fresh_until:
            _logger.info("read_replica_serving")
        self._warned = None
        self._fresh_until = max(covered) + self.max_lag_seconds

    def _warn_once(self, kind: str, detail: str) -> None:
        if self._warned != kind:
            self._warned = kind
            _logger.warning("read_replica_check_failed", kind=kind, detail=detail)

    async def remember_write(self, user_id: uuid.UUID) -> None:
        """Record, after a commit of `user_id`'s write, the primary position their next reads must see."""
        if self._primary is None:
            return
        try:
            position = int(await _fetch(self._primary, _PRIMARY_POSITION, self.timeout_seconds))
            await self.positions.remember(user_id, position)
        except Exception as exc:  # the write is committed; its reader must not get a 500 for it
            # Not knowing what this user must see, no read here uses the standby until the lag bound alone
            # guarantees it has the write. (Other processes, if the shared store is down, cannot read positions
            # either, and send their reads to the primary.)
            _logger.warning("read_your_writes_not_recorded", error=type(exc).__name__)
            self._blocked_until = time.monotonic() + self._position_ttl

    @contextlib.asynccontextmanager
    async def session_for(self, user_id: uuid.UUID) -> AsyncIterator[AsyncSession | None]:
        """A session on the standby for `user_id`'s reads, or None when they must go to the primary: the standby
        is down or lagging, or has not yet replayed this user's latest write."""
        if not self.serving:
            yield None
            return
        try:
            pending = await self.positions.pending(user_id)
        except Exception as exc:  # the shared store is unreachable: whether the user wrote is unknown
            _logger.warning("read_your_writes_unknown", error=type(exc).__name__)
            yield None
            return
        async with self.sessionmaker() as session:
            if await self._usable(session, pending):
                if pending is not None:
                    await self.positions.forget(user_id, self.replayed)
                yield session
                return
        yield None

    async def _usable(self, session: AsyncSession, pending: int | None) -> bool:
        """Whether `session` (on the standby) sees a write at `pending`; False too when the standby fails."""
        try:
            if pending is not None and pending > self.replayed:
                replayed = int(await session.scalar(text(_REPLAY_POSITION)) or -1)
                self.replayed = max(self.replayed, replayed)
                return replayed >= pending
            # Checks the connection out now: a standby gone since the last check fails here, not in the
            # endpoint's query.
            await session.connection()
            return True
        except _STANDBY_FAILURES as exc:
            self.mark_down(type(exc).__name__)
            return False


def create_replica_engine(url: str, settings: DatabaseSettings) -> AsyncEngine:
    engine = create_async_engine(
        engine_url(url),
        pool_size=settings.read_pool_size,
        max_overflow=settings.read_max_overflow,
        pool_pre_ping=False,
        echo=settings.echo,
        hide_parameters=True,
        # An unreachable standby must cost a read at most this long before it falls back to the primary.
        pool_timeout=settings.replica_connect_timeout_seconds,
        connect_args={"timeout": settings.replica_connect_timeout_seconds},
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    # A stopped or restarted standby closed its connections; asyncpg knows without a round trip. The pool
    # then opens a new one (or fails to, and the read falls back to the primary).
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the standby closed this connection")


async def _fetch(engine: AsyncEngine, query: str, seconds: float) -> Any:
    row = await _fetch_row(engine, query, seconds)
    return row[0]


async def _fetch_row(engine: AsyncEngine, query: str, seconds: float) -> Any:
    """One query outside any transaction (one round trip, no BEGIN/ROLLBACK); asyncpg cancels it on timeout."""
    async with asyncio.timeout(seconds * 2):  # also bounds the connect, which has its own timeout
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection
            return await driver.fetchrow(query, timeout=seconds)
