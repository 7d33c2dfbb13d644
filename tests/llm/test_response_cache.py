"""The response cache (`llm.response_cache`): what the two twins (in-process and Redis) keep and for how long, which
requests count as identical, and how the router answers from it without calling the provider."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from parley.config import LLMSettings
from parley.llm.base import ChatMessage, ChatRequest, Finish, GenerationParams, TextDelta, Usage
from parley.llm.config import CacheConfig, ModelCatalog, ModelConfig
from parley.llm.registry import ModelRegistry
from parley.llm.response_cache import (
    CachedAnswer,
    CacheHit,
    MemoryResponseCache,
    ResponseCache,
    cache_key,
    cacheable,
)
from parley.llm.router import Router

ALICE = uuid.UUID("00000000-0000-0000-0000-00000000a11c")
BOB = uuid.UUID("00000000-0000-0000-0000-000000000b0b")
ANSWER = CachedAnswer("The answer is 42.", "stop", Usage(prompt_tokens=12, completion_tokens=4))


@dataclass
class Twin:
    cache: ResponseCache
    keys: Callable[[], Awaitable[list[str]]]


@pytest_asyncio.fixture(loop_scope="session", params=["memory", "redis"])
async def twin(request: pytest.FixtureRequest) -> AsyncIterator[Twin]:
    if request.param == "memory":
        memory = MemoryResponseCache(max_bytes=1 << 20)

        async def memory_keys() -> list[str]:
            return [*memory._entries]

        yield Twin(memory, memory_keys)
        return
    import redis.asyncio

    from parley.llm.redis_response_cache import RedisResponseCache

    url = request.getfixturevalue("redis_url")
    prefix = f"{request.getfixturevalue('redis_key_prefix')}:cache-{uuid.uuid4().hex[:8]}"
    async with redis.asyncio.Redis.from_url(url) as client:

        async def redis_keys() -> list[str]:
            return [key.decode() async for key in client.scan_iter(match=f"{prefix}:*")]

        yield Twin(RedisResponseCache(client, prefix=prefix), redis_keys)


def _request(text: str = "What is the answer?", **params: Any) -> ChatRequest:
    return ChatRequest(
        [ChatMessage("system", "Be brief."), ChatMessage("user", text)],
        GenerationParams(**{"temperature": 0, **params}),
    )


def _model(name: str = "cached", **overrides: Any) -> ModelConfig:
    fields: dict[str, Any] = {
        "name": name,
        "provider": "scripted",
        "reply": "echo",
        "price_per_1k_input": Decimal("0.5"),
        "price_per_1k_output": Decimal("1.5"),
        "cache": CacheConfig(ttl_seconds=60),
    }
    return ModelConfig(**{**fields, **overrides})


class TestTwins:
    async def test_a_stored_answer_is_served_until_its_ttl_passes(self, twin):
        await twin.cache.put("k1", ANSWER, ttl_seconds=0.3)
        assert await twin.cache.get("k1") == ANSWER
        assert await twin.cache.get("other") is None
        await asyncio.sleep(0.4)
        assert await twin.cache.get("k1") is None

    async def test_storing_again_replaces_the_answer_and_its_ttl(self, twin):
        await twin.cache.put("k1", ANSWER, ttl_seconds=0.2)
        newer = CachedAnswer("Still 42.", "length", Usage(prompt_tokens=12, completion_tokens=2))
        await twin.cache.put("k1", newer, ttl_seconds=60)
        await asyncio.sleep(0.3)
        assert await twin.cache.get("k1") == newer

    async def test_keys_show_neither_the_prompt_nor_the_user(self, twin):
        key = cache_key(_model(), _request("my salary is 123456"), user_id=ALICE)
        await twin.cache.put(key, ANSWER, ttl_seconds=60)
        [stored] = await twin.keys()
        assert key in stored and "123456" not in stored and str(ALICE) not in stored


class TestMemoryTwin:
    async def test_the_least_recently_used_answers_leave_first_past_the_size_bound(self):
        cache = MemoryResponseCache(max_bytes=3 * (256 + 20))
        for key in ("a", "b", "c"):
            await cache.put(key, CachedAnswer(key * 20, "stop", ANSWER.usage), ttl_seconds=60)
        assert await cache.get("a") is not None  # now the most recently used
        await cache.put("d", CachedAnswer("d" * 20, "stop", ANSWER.usage), ttl_seconds=60)
        assert [await cache.get(k) is not None for k in ("a", "b", "c", "d")] == [True, False, True, True]
        assert len(cache) == 3

    async def test_an_answer_larger_than_the_whole_cache_is_not_kept(self):
        cache = MemoryResponseCache(max_bytes=1000)
        await cache.put("small", ANSWER, ttl_seconds=60)
        await cache.put("huge", CachedAnswer("x" * 2000, "stop", ANSWER.usage), ttl_seconds=60)
        assert await cache.get("huge") is None and await cache.get("small") == ANSWER

    async def test_expiry_follows_the_clock(self):
        now = [100.0]
        cache = MemoryResponseCache(max_bytes=1 << 20, clock=lambda: now[0])
        await cache.put("k", ANSWER, ttl_seconds=30)
        now[0] += 29.9
        assert await cache.get("k") == ANSWER
        now[0] += 0.1
        assert await cache.get("k") is None and len(cache) == 0


async def test_an_unreachable_redis_is_a_miss_and_storing_is_skipped():
    import redis.asyncio

    from parley.llm.redis_response_cache import RedisResponseCache

    async with redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1) as client:
        cache = RedisResponseCache(client, prefix="parley-test-unreachable")
        await cache.put("k", ANSWER, ttl_seconds=60)
        assert await cache.get("k") is None


class TestIdenticalRequests:
    def test_only_models_that_opt_in_and_temperature_zero_requests_are_cacheable(self):
        assert cacheable(_model(), _request())
        assert not cacheable(_model(), _request(temperature=0.7))
        assert not cacheable(_model(), _request(temperature=None))  # the provider's default samples
        assert not cacheable(_model(cache=None), _request())

    def test_the_key_changes_with_anything_that_shapes_the_answer(self):
        model = _model()
        base = cache_key(model, _request(), user_id=ALICE)
        assert cache_key(model, _request(), user_id=ALICE) == base
        others = [
            cache_key(model, _request("What is the question?"), user_id=ALICE),
            cache_key(model, _request(max_tokens=10), user_id=ALICE),
            cache_key(model, _request(stop=("\n",)), user_id=ALICE),
            cache_key(model, _request(top_p=0.5), user_id=ALICE),
            cache_key(_model("other"), _request(), user_id=ALICE),
            cache_key(_model(model="gpt-4o"), _request(), user_id=ALICE),
            cache_key(model, _request(), user_id=BOB),
        ]
        assert base not in others and len(set(others)) == len(others)

    def test_shared_entries_key_without_the_user(self):
        shared = _model(cache=CacheConfig(ttl_seconds=60, shared_across_users=True))
        assert cache_key(shared, _request(), user_id=ALICE) == cache_key(shared, _request(), user_id=BOB)

    def test_a_ttl_must_be_positive(self):
        with pytest.raises(ValueError, match="ttl_seconds"):
            _model(cache={"ttl_seconds": 0})
        with pytest.raises(ValueError, match="extra"):
            _model(cache={"ttl_seconds": 5, "shared": True})


@dataclass
class Routed:
    router: Router
    calls: list[ChatRequest]


def _routed(*models: ModelConfig) -> Routed:
    catalog = ModelCatalog(models=models)
    router = Router(
        ModelRegistry(catalog, data_dir=Path("/nonexistent")),
        LLMSettings(),
        response_cache=MemoryResponseCache(max_bytes=1 << 20),
    )
    calls: list[ChatRequest] = []
    for model in models:
        provider = router.registry.get(model.name).model  # type: ignore[union-attr]
        original = provider.stream

        def counted(request: ChatRequest, original: Any = original) -> Any:
            calls.append(request)
            return original(request)

        provider.stream = counted  # type: ignore[method-assign]
    return Routed(router, calls)


async def _answer(routed: Routed, request: ChatRequest, *, model: str = "cached", **options: Any) -> list[Any]:
    registered = routed.router.registry.get(model)
    assert registered is not None
    options.setdefault("user_id", ALICE)
    return [event async for event in routed.router.answer(registered, request, **options)]


def _text(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


class TestRouterAnswers:
    async def test_an_identical_request_is_replayed_without_calling_the_provider(self):
        routed = _routed(_model())
        request = _request("Tell me about the weather in Lisbon today")
        first = await _answer(routed, request)
        second = await _answer(routed, request)
        assert len(routed.calls) == 1
        assert not any(isinstance(e, CacheHit) for e in first)
        assert isinstance(second[0], CacheHit) and second[0].usage == first[-1].usage
        # Streamed the same way: the text in word pieces, then the finish with the stored usage.
        assert [e for e in second[1:] if isinstance(e, TextDelta)] == [e for e in first if isinstance(e, TextDelta)]
        assert second[-1] == first[-1] and isinstance(second[-1], Finish) and second[-1].reason == "stop"

    async def test_sampled_requests_other_users_and_grounded_answers_reach_the_provider(self):
        routed = _routed(_model())
        for _ in range(2):
            await _answer(routed, _request(temperature=0.7))
            await _answer(routed, _request(temperature=None))
            await _answer(routed, _request("about my documents"), grounded=True)
        assert len(routed.calls) == 6
        await _answer(routed, _request(), user_id=ALICE)
        await _answer(routed, _request(), user_id=BOB)
        assert len(routed.calls) == 8

    async def test_a_shared_entry_answers_every_user_from_one_call(self):
        routed = _routed(_model(cache=CacheConfig(ttl_seconds=60, shared_across_users=True)))
        answers = [_text(await _answer(routed, _request("the holiday policy"), user_id=u)) for u in (ALICE, BOB)]
        assert answers == ["the holiday policy"] * 2 and len(routed.calls) == 1

    async def test_a_model_without_cache_is_always_called(self):
        routed = _routed(_model("plain", cache=None))
        for _ in range(2):
            await _answer(routed, _request(), model="plain")
        assert len(routed.calls) == 2

    async def test_a_length_finish_is_stored_and_replayed_as_length(self):
        routed = _routed(_model())
        first = await _answer(routed, _request("one two three four", max_tokens=2))
        second = await _answer(routed, _request("one two three four", max_tokens=2))
        assert _text(second) == _text(first) == "one two" and second[-1].reason == "length"
        assert len(routed.calls) == 1

    async def test_the_stop_sequence_met_is_stored_and_replayed(self):
        routed = _routed(_model())
        request = _request("one two END three", stop=("END",))
        first, second = await _answer(routed, request), await _answer(routed, request)
        assert _text(second) == _text(first) == "one two " and len(routed.calls) == 1
        assert second[-1].stop_sequence == first[-1].stop_sequence == "END"

    async def test_an_answer_stopped_midway_is_not_stored(self):
        routed = _routed(_model(tokens_per_second=200))
        events = routed.router.answer(routed.router.registry.get("cached"), _request("a b c d e f"), user_id=ALICE)  # type: ignore[arg-type]
        assert isinstance(await anext(events), TextDelta)
        await events.aclose()
        assert _text(await _answer(routed, _request("a b c d e f"))) == "a b c d e f"
        assert len(routed.calls) == 2

    async def test_an_answer_finished_by_a_fallback_is_not_stored(self):
        dropping = _model(fail="drop_after_tokens:2", reply="one two three four", fallbacks=("backup",), max_retries=0)
        routed = _routed(dropping, _model("backup", cache=None))
        for _ in range(2):
            await _answer(routed, _request())
        # Each time: the model asked, then the fallback that finished its answer.
        assert len(routed.calls) == 4
