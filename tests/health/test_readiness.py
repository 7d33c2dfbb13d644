"""Readiness follows the models' start-up load: a replica whose model is still loading answers /readyz with 503
(a load balancer sends it no chats yet) while /healthz stays 200; the load starts at start-up, not on the first
question; a question that comes during the load waits for it and is answered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from fastapi import FastAPI

from tests.conftest import running_app
from tests.factories import assert_problem, signed_in_user
from tests.sse import answer_text, parse_events

MODELS_YAML = """
default: slow-loader
models:
  - name: slow-loader
    provider: scripted
    reply: echo
    load_ms: 3000
  - name: remote
    provider: scripted
    reply: echo
  - name: broken-file
    provider: local
    path: /nonexistent/model.gguf
"""


@pytest_asyncio.fixture(loop_scope="session")
async def loading_app(settings, tmp_path, client) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A fresh replica, just started, whose default model takes 3 s to load."""
    models_file = tmp_path / "models.yaml"
    models_file.write_text(MODELS_YAML)
    async with running_app(settings.model_copy(update={"models_file": models_file})) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, http


async def _until_ready(http: httpx.AsyncClient) -> httpx.Response:
    for _ in range(200):
        response = await http.get("/readyz")
        if response.status_code == 200:
            return response
        await asyncio.sleep(0.05)
    raise AssertionError(f"never ready: {response.text}")


class TestReadinessWhileAModelLoads:
    async def test_readyz_is_503_until_the_model_has_loaded_then_200_and_healthz_stays_200(self, loading_app):
        app, http = loading_app
        # Nobody has asked anything yet: the load was started by the start-up itself.
        assert app.state.models.states["slow-loader"] == "loading"
        problem = assert_problem(await http.get("/readyz"), 503)
        assert "slow-loader" in problem["detail"]
        assert problem["models"] == {"slow-loader": "loading", "remote": "ready", "broken-file": "failed"}
        assert (await http.get("/healthz")).status_code == 200

        ready = await _until_ready(http)
        assert ready.json()["models"] == {"slow-loader": "ready", "remote": "ready", "broken-file": "failed"}

    async def test_a_question_during_the_load_waits_for_it_and_is_answered(self, loading_app):
        app, http = loading_app
        me = await signed_in_user(app, http)
        assert app.state.models.states["slow-loader"] == "loading"
        response = await http.post("/api/v1/chat", json={"message": "worth the wait"}, headers=me.headers)
        events = parse_events(response.text)
        assert answer_text(events) == "worth the wait"
        assert next(e for e in events if e.event == "done").data["model"] == "slow-loader"
        assert app.state.models.states["slow-loader"] == "ready"
