"""Answers from the response cache (issue 11, "Cost controls"): a model whose catalogue entry opts in answers a
second identical deterministic question from the stored answer, on the chat API and on /v1, streamed as usual and
recorded as a cache hit with what it saved; never another user's answer unless the entry shares them, never a
sampled or grounded answer. Both twins: the in-process cache and Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import select

from parley.chat.context import system_message
from parley.config import Settings
from parley.llm.base import ChatRequest
from parley.models import UsageLog
from tests.conftest import reset_app, running_app
from tests.factories import SignedIn, signed_in_user
from tests.sse import answer_text, parse_events

CHAT = "/api/v1/chat"
COMPLETIONS = "/v1/chat/completions"
MODELS_YAML = """
default: cached
models:
  - name: cached
    provider: scripted
    reply: echo
    price_per_1k_input: 0.5
    price_per_1k_output: 1.5
    cache: {ttl_seconds: 60}
  - name: cached-shared
    provider: scripted
    reply: echo
    price_per_1k_input: 0.5
    price_per_1k_output: 1.5
    cache: {ttl_seconds: 60, shared_across_users: true}
  - name: cached-briefly
    provider: scripted
    reply: echo
    cache: {ttl_seconds: 0.5}
"""


@pytest.fixture(scope="session")
def cache_models_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cache-config") / "models.yaml"
    path.write_text(MODELS_YAML)
    return path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def memory_cache_app(settings: Settings, cache_models_file: Path) -> AsyncIterator[FastAPI]:
    async with running_app(settings.model_copy(update={"models_file": cache_models_file})) as application:
        yield application


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def redis_cache_app(redis_settings: Settings, cache_models_file: Path) -> AsyncIterator[FastAPI]:
    async with running_app(redis_settings.model_copy(update={"models_file": cache_models_file})) as application:
        yield application


@dataclass
class Cached:
    app: FastAPI
    http: httpx.AsyncClient
    # Requests at temperature 0 that reached each model's provider (titles, at 0.2, are not counted).
    calls: dict[str, list[ChatRequest]]


@pytest.fixture(params=["in-process", "redis"])
def cache_app(request: pytest.FixtureRequest) -> FastAPI:
    name = "memory_cache_app" if request.param == "in-process" else "redis_cache_app"
    app: FastAPI = request.getfixturevalue(name)
    return app


@pytest.fixture
def counted(cache_app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[ChatRequest]]:
    calls: dict[str, list[ChatRequest]] = {}
    for registered in cache_app.state.models:
        provider = registered.model
        seen = calls.setdefault(registered.config.name, [])

        def stream(request: ChatRequest, original: Any = provider.stream, seen: list[ChatRequest] = seen) -> Any:
            if request.params.temperature == 0:
                seen.append(request)
            return original(request)

        monkeypatch.setattr(provider, "stream", stream)
    return calls


@pytest_asyncio.fixture(loop_scope="session")
async def cached(
    cache_app: FastAPI, counted: dict[str, list[ChatRequest]], client: httpx.AsyncClient
) -> AsyncIterator[Cached]:
    # `client` has emptied the shared database.
    await reset_app(cache_app)
    transport = httpx.ASGITransport(app=cache_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield Cached(cache_app, http, counted)
    await cache_app.state.chat_engine.runs.cancel_all("test ended")


async def _chat(cached: Cached, user: SignedIn, message: str, **body: Any) -> tuple[str, dict[str, Any]]:
    body = {"model": "cached", "temperature": 0, **body}
    response = await cached.http.post(CHAT, json={"message": message, **body}, headers=user.headers)
    assert response.status_code == 200, response.text
    events = parse_events(response.text)
    done = next(e for e in events if e.event == "done").data
    return answer_text(events), {**done, "conversation_id": events[0].data["conversation_id"]}


async def _answer_row(app: FastAPI, message_id: str) -> UsageLog:
    async with app.state.database.session() as session:
        rows = (
            await session.scalars(
                select(UsageLog).where(UsageLog.message_id == uuid.UUID(message_id), UsageLog.ttft_ms.is_not(None))
            )
        ).all()
    assert len(rows) == 1
    return rows[0]


def _question() -> str:
    # Unique per test: the shared model's answers are not scoped to a user, and Redis outlives a test.
    return f"What does our travel policy {uuid.uuid4().hex[:6]} say about trains?"


class TestChatAnswersFromTheCache:
    async def test_a_second_identical_chat_is_answered_without_the_provider_and_recorded_as_a_saving(self, cached):
        me = await signed_in_user(cached.app, cached.http)
        question = _question()
        first_text, first = await _chat(cached, me, question)
        second_text, second = await _chat(cached, me, question)

        assert second_text == first_text == question
        assert len(cached.calls["cached"]) == 1
        assert second["finish_reason"] == "stop" and second["usage"] == first["usage"]
        assert Decimal(first["cost"]) > 0 and Decimal(second["cost"]) == 0

        generated = await _answer_row(cached.app, first["message_id"])
        hit = await _answer_row(cached.app, second["message_id"])
        assert not generated.cache_hit and generated.saved_usd == 0 and generated.cost_usd > 0
        assert hit.cache_hit and hit.cost_usd == 0 and hit.saved_usd == generated.cost_usd
        assert (hit.prompt_tokens, hit.completion_tokens) == (generated.prompt_tokens, generated.completion_tokens)
        # The stored answer reads like any other in the conversation.
        detail = (
            await cached.http.get(f"/api/v1/conversations/{second['conversation_id']}", headers=me.headers)
        ).json()
        assert [m["content"] for m in detail["messages"]] == [question, question]

    async def test_regenerate_asks_the_model_again_instead_of_replaying_the_stored_answer(self, cached):
        me = await signed_in_user(cached.app, cached.http)
        question = _question()
        await _chat(cached, me, question)
        _, first = await _chat(cached, me, question)
        assert len(cached.calls["cached"]) == 1
        response = await cached.http.post(
            f"{CHAT}/{first['conversation_id']}/regenerate",
            json={"model": "cached", "temperature": 0},
            headers=me.headers,
        )
        assert response.status_code == 200, response.text
        done = next(e for e in parse_events(response.text) if e.event == "done").data
        assert len(cached.calls["cached"]) == 2
        assert not (await _answer_row(cached.app, done["message_id"])).cache_hit

    async def test_another_user_does_not_get_the_first_users_answer(self, cached):
        alice = await signed_in_user(cached.app, cached.http)
        bob = await signed_in_user(cached.app, cached.http)
        question = _question()
        await _chat(cached, alice, question)
        _, done = await _chat(cached, bob, question)
        assert len(cached.calls["cached"]) == 2
        assert not (await _answer_row(cached.app, done["message_id"])).cache_hit

    async def test_a_model_that_shares_answers_answers_everyone_from_one_call(self, cached):
        alice = await signed_in_user(cached.app, cached.http)
        bob = await signed_in_user(cached.app, cached.http)
        question = _question()
        await _chat(cached, alice, question, model="cached-shared")
        text, done = await _chat(cached, bob, question, model="cached-shared")
        assert text == question and len(cached.calls["cached-shared"]) == 1
        assert (await _answer_row(cached.app, done["message_id"])).cache_hit

    async def test_a_sampled_chat_is_never_cached(self, cached):
        me = await signed_in_user(cached.app, cached.http)
        question = _question()
        for _ in range(2):
            _, done = await _chat(cached, me, question, temperature=0.7)
            assert not (await _answer_row(cached.app, done["message_id"])).cache_hit
        # Counted at temperature 0 only; the two answers reached the provider: neither row is a hit.
        assert cached.calls["cached"] == []

    async def test_an_answer_is_served_only_within_its_ttl(self, cached):
        me = await signed_in_user(cached.app, cached.http)
        question = _question()
        await _chat(cached, me, question, model="cached-briefly")
        await _chat(cached, me, question, model="cached-briefly")
        assert len(cached.calls["cached-briefly"]) == 1
        await asyncio.sleep(0.6)
        _, done = await _chat(cached, me, question, model="cached-briefly")
        assert len(cached.calls["cached-briefly"]) == 2
        assert not (await _answer_row(cached.app, done["message_id"])).cache_hit


class TestOpenAICompletionsFromTheCache:
    async def test_non_streaming_and_streaming_completions_hit_the_cache(self, cached):
        me = await signed_in_user(cached.app, cached.http)
        question = _question()
        body = {"model": "cached", "temperature": 0, "messages": [{"role": "user", "content": question}]}

        first = await cached.http.post(COMPLETIONS, json=body, headers=me.headers)
        second = await cached.http.post(COMPLETIONS, json=body, headers=me.headers)
        assert first.status_code == second.status_code == 200, second.text
        assert second.json()["choices"][0]["message"]["content"] == question
        assert second.json()["choices"][0]["finish_reason"] == "stop"
        assert second.json()["usage"] == first.json()["usage"]

        streamed = await cached.http.post(
            COMPLETIONS, json={**body, "stream": True, "stream_options": {"include_usage": True}}, headers=me.headers
        )
        assert streamed.status_code == 200
        chunks = [line.removeprefix("data: ") for line in streamed.text.split("\n\n") if line.startswith("data: ")]
        assert chunks[-1] == "[DONE]"
        payloads = [json.loads(c) for c in chunks[:-1]]
        text = "".join(p["choices"][0]["delta"].get("content") or "" for p in payloads if p["choices"])
        assert text == question
        assert [p["choices"][0]["finish_reason"] for p in payloads if p["choices"]][-1] == "stop"
        assert payloads[-1]["usage"] == first.json()["usage"]

        assert len(cached.calls["cached"]) == 1
        async with cached.app.state.database.session() as session:
            rows = (await session.scalars(select(UsageLog).where(UsageLog.user_id == me.id))).all()
        assert sorted(r.cache_hit for r in rows) == [False, True, True]
        assert all(r.saved_usd > 0 and r.cost_usd == 0 for r in rows if r.cache_hit)

    async def test_a_chat_answer_is_reused_by_the_same_users_completion(self, cached):
        me = await signed_in_user(cached.app, cached.http)
        question = _question()
        # The chat's prompt has a system message: the same messages on /v1 are the same request.
        await _chat(cached, me, question)
        system = system_message(None).content
        body = {
            "model": "cached",
            "temperature": 0,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}],
        }
        response = await cached.http.post(COMPLETIONS, json=body, headers=me.headers)
        assert response.json()["choices"][0]["message"]["content"] == question
        assert len(cached.calls["cached"]) == 1


@pytest.mark.parametrize("cache_app", ["in-process"], indirect=True)
class TestGroundedAnswers:
    async def test_an_answer_drawing_on_documents_is_never_cached(self, cached):
        me = await signed_in_user(cached.app, cached.http)
        # Named documents make the answer grounded, whatever retrieval then finds (an empty knowledge base here:
        # what a user may read changes, so even "no sources" is not for keeping).
        created = await cached.http.post("/api/v1/knowledge-bases", json={"name": "Travel"}, headers=me.headers)
        assert created.status_code == 201, created.text
        question = _question()
        for _ in range(2):
            _, done = await _chat(cached, me, question, knowledge_base_ids=[created.json()["id"]])
            assert not (await _answer_row(cached.app, done["message_id"])).cache_hit
        assert len(cached.calls["cached"]) == 2
