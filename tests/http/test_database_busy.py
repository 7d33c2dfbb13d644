"""When the database cannot take a request (every pool connection busy past the pool timeout; the server at
max_connections, starting or gone), the client gets a 503 it may retry, with Retry-After, in the surface's own error
shape: never a 500 that reads as a bug (the capacity check found three replicas' pools exhausting PostgreSQL's
connections answered 500)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from parley.config import DatabaseSettings, Settings
from parley.errors import DATABASE_BUSY_RETRY_SECONDS, database_busy
from tests.conftest import running_app
from tests.factories import assert_problem, signed_in_user

POOL = 2


@pytest.fixture
async def small_pool_app(settings: Settings) -> AsyncIterator[FastAPI]:
    database = DatabaseSettings(pool_size=POOL, max_overflow=0, pool_timeout_seconds=0.5)
    async with running_app(settings.model_copy(update={"database": database})) as application:
        yield application


@contextlib.asynccontextmanager
async def every_connection_taken(app: FastAPI) -> AsyncIterator[list[AsyncConnection]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(app.state.database.engine.connect()) for _ in range(POOL)]


class TestPoolExhausted:
    async def test_the_web_api_answers_503_with_retry_after_then_serves_again(self, small_pool_app: FastAPI):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=small_pool_app), base_url="http://t") as http:
            me = await signed_in_user(small_pool_app, http)
            headers = {"Authorization": f"Bearer {me.access_token}"}
            async with every_connection_taken(small_pool_app):
                busy = await http.get("/api/v1/conversations", headers=headers)
            body = assert_problem(busy, 503)
            assert body["type"].endswith("/database_unavailable")
            assert busy.headers["retry-after"] == str(DATABASE_BUSY_RETRY_SECONDS)
            assert (await http.get("/api/v1/conversations", headers=headers)).status_code == 200

    async def test_the_openai_api_answers_503_in_openais_shape(self, small_pool_app: FastAPI):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=small_pool_app), base_url="http://t") as http:
            me = await signed_in_user(small_pool_app, http)
            created = await http.post(
                "/api/v1/users/me/api-keys",
                json={"name": "sdk"},
                headers={"Authorization": f"Bearer {me.access_token}"},
            )
            key = created.json()["key"]
            async with every_connection_taken(small_pool_app):
                busy = await http.post(
                    "/v1/chat/completions",
                    json={"model": "scripted", "messages": [{"role": "user", "content": "hi"}]},
                    headers={"Authorization": f"Bearer {key}"},
                )
        assert busy.status_code == 503, busy.text
        assert busy.headers["retry-after"] == str(DATABASE_BUSY_RETRY_SECONDS)
        assert set(busy.json()["error"]) >= {"message", "type", "code"}


class TestServerRefuses:
    def test_a_server_at_max_connections_or_starting_up_is_busy_not_a_bug(self) -> None:
        # What asyncpg raises when PostgreSQL refuses a new connection or is starting up, and what it is not.
        assert database_busy(asyncpg.TooManyConnectionsError("sorry, too many clients already"))
        assert database_busy(asyncpg.CannotConnectNowError("the database system is starting up"))
        assert not database_busy(asyncpg.UniqueViolationError("duplicate key"))
