"""Fixtures of the chat tests that run two replicas (in-process apps) over one Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from fastapi import FastAPI

from tests.conftest import reset_app

# How long an answer nobody listens to keeps going, unless a test module sets its own `GRACE_SECONDS`: long enough
# that a loaded machine's scheduling delays do not pass for a client that left.
DEFAULT_GRACE_SECONDS = 1.5


@pytest_asyncio.fixture(loop_scope="session")
async def replicas(
    request: pytest.FixtureRequest,
    client: object,
    redis_app: FastAPI,
    redis_live_url: str,
    replica_b: FastAPI,
    replica_b_url: str,
) -> AsyncIterator[tuple[tuple[FastAPI, str], tuple[FastAPI, str]]]:
    """Replica A and B, each as (app, HTTP base URL); `client` has emptied the shared database."""
    grace = getattr(request.module, "GRACE_SECONDS", DEFAULT_GRACE_SECONDS)
    apps = (redis_app, replica_b)
    original = {id(app): app.state.chat_engine.settings.disconnect_grace_seconds for app in apps}
    for app in apps:
        await reset_app(app)
        app.state.chat_engine.settings.disconnect_grace_seconds = grace
    yield (redis_app, redis_live_url), (replica_b, replica_b_url)
    for app in apps:
        await app.state.chat_engine.runs.cancel_all("test ended")
        app.state.chat_engine.settings.disconnect_grace_seconds = original[id(app)]
