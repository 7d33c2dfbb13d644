"""The chat tests that concern runs (stop, resume, disconnect) run against both twins: the in-process app and an
app on Redis. Both share the test database; `client` has emptied it before each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from tests.conftest import reset_app


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
