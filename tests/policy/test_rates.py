"""The shared rate limiter (`policy.rates`): what a caller is told about each hit, on both storages (in-process
memory, and Redis, which several replicas share), and how a refusal reads on Parley's API and on /v1."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from parley.auth.throttle import redis_storage
from parley.errors import ServiceUnavailable, install_error_handlers
from parley.openai_api.errors import openai_error_response
from parley.policy.rates import RateLimit, RateLimiter
from tests.factories import assert_problem

ANON = RateLimit("anon", quota=3, window_seconds=60)


@dataclass
class Store:
    limiter: RateLimiter
    keys: Callable[[], Awaitable[list[str]]]


@pytest_asyncio.fixture(loop_scope="session", params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        limiter = RateLimiter()
        memory = limiter._storage

        async def memory_keys() -> list[str]:
            return [*memory.events]  # type: ignore[attr-defined]

        yield Store(limiter, memory_keys)
        await memory.reset()
    else:
        import redis.asyncio

        url = request.getfixturevalue("redis_url")
        prefix = f"{request.getfixturevalue('redis_key_prefix')}:rates-{uuid.uuid4().hex[:8]}"
        storage = redis_storage(url, key_prefix=prefix)
        async with redis.asyncio.Redis.from_url(url) as raw:

            async def redis_keys() -> list[str]:
                return [key.decode() async for key in raw.scan_iter(match=f"{prefix}:*")]

            yield Store(RateLimiter(storage), redis_keys)
        await storage.reset()


@pytest.fixture
def limiter(store: Store) -> RateLimiter:
    return store.limiter


class TestLimiter:
    async def test_admits_the_quota_then_refuses_with_how_long_to_wait(self, limiter):
        decisions = [await limiter.hit(ANON, "203.0.113.1") for _ in range(5)]
        assert [d.allowed for d in decisions] == [True, True, True, False, False]
        assert [d.remaining for d in decisions] == [2, 1, 0, 0, 0]
        assert [d.retry_after is None for d in decisions] == [True, True, True, False, False]
        refused = decisions[-1]
        assert refused.retry_after is not None and 55 <= refused.retry_after <= 60
        assert time.time() + 55 <= refused.reset_at <= time.time() + 61

    async def test_subjects_and_limits_are_counted_apart(self, limiter):
        for _ in range(3):
            await limiter.hit(ANON, "203.0.113.1")
        assert not (await limiter.hit(ANON, "203.0.113.1")).allowed
        assert (await limiter.hit(ANON, "203.0.113.2")).allowed
        other = RateLimit("user-minute", quota=3, window_seconds=60)
        assert (await limiter.hit(other, "203.0.113.1")).allowed

    async def test_a_cost_counts_as_that_many_hits_and_what_does_not_fit_is_not_counted(self, limiter):
        assert (await limiter.hit(ANON, "s", cost=2)).remaining == 1
        assert not (await limiter.hit(ANON, "s", cost=2)).allowed  # would go past the quota: refused, not counted
        assert (await limiter.hit(ANON, "s")).allowed

    async def test_peek_tells_without_counting_and_clear_forgets(self, limiter):
        for _ in range(2):
            await limiter.hit(ANON, "s")
        assert (await limiter.peek(ANON, "s")).remaining == 1
        assert (await limiter.peek(ANON, "s")).remaining == 1
        await limiter.hit(ANON, "s")
        assert not (await limiter.peek(ANON, "s")).allowed
        await limiter.clear(ANON, "s")
        assert (await limiter.hit(ANON, "s")).remaining == 2

    async def test_the_store_never_holds_the_subject_in_clear(self, store):
        await store.limiter.hit(ANON, "198.51.100.99")
        keys = await store.keys()
        assert keys and not any("198.51.100.99" in key for key in keys)


class TestHeaders:
    async def test_allowed_hits_carry_the_policy_and_what_is_left(self, limiter):
        headers = (await limiter.hit(ANON, "s")).headers()
        assert headers["RateLimit-Policy"] == '"anon";q=3;w=60'
        assert re.fullmatch(r'"anon";r=2;t=(59|60)', headers["RateLimit"])
        assert "Retry-After" not in headers

    async def test_refused_hits_add_retry_after(self, limiter):
        for _ in range(3):
            await limiter.hit(ANON, "s")
        headers = (await limiter.hit(ANON, "s")).headers()
        assert re.fullmatch(r'"anon";r=0;t=\d+', headers["RateLimit"])
        assert headers["Retry-After"] == headers["RateLimit"].rsplit("t=", 1)[1]


# How a refusal reads: a small app with Parley's error handling and a route enforcing a limit -----------------


@pytest_asyncio.fixture(loop_scope="session")
async def limited() -> AsyncIterator[httpx.AsyncClient]:
    limiter = RateLimiter()
    one = RateLimit("tiny", quota=1, window_seconds=30)
    application = FastAPI()
    install_error_handlers(application, surfaces={"/v1/": openai_error_response})

    @application.post("/api/thing")
    @application.post("/v1/thing")
    async def thing() -> dict[str, bool]:
        (await limiter.hit(one, "caller")).enforce()
        return {"ok": True}

    @application.post("/api/quota")
    @application.post("/v1/quota")
    async def quota() -> dict[str, bool]:
        (await limiter.hit(one, "caller-quota")).enforce(quota=True, message="Your monthly tokens are used up")
        return {"ok": True}

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


class TestRefusal:
    async def test_a_rate_limit_is_a_429_problem_naming_the_limit_and_when_it_resets(self, limited):
        assert (await limited.post("/api/thing")).status_code == 200
        response = await limited.post("/api/thing")
        body = assert_problem(response, 429)
        assert body["type"].endswith("/rate_limited")
        assert body["limit"] == "tiny" and body["quota"] == 1 and body["window_seconds"] == 30
        assert 1 <= body["retry_after"] <= 30 and response.headers["Retry-After"] == str(body["retry_after"])
        assert body["resets_at"].endswith("+00:00")
        assert response.headers["RateLimit-Policy"] == '"tiny";q=1;w=30'
        assert response.headers["RateLimit"] == f'"tiny";r=0;t={body["retry_after"]}'

    async def test_a_used_up_quota_is_a_429_quota_exceeded_problem(self, limited):
        await limited.post("/api/quota")
        body = assert_problem(await limited.post("/api/quota"), 429)
        assert body["type"].endswith("/quota_exceeded") and body["detail"] == "Your monthly tokens are used up"

    async def test_under_v1_the_refusals_have_openais_shape_and_codes(self, limited):
        await limited.post("/v1/thing")
        response = await limited.post("/v1/thing")
        assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
        assert response.headers["RateLimit-Policy"] == '"tiny";q=1;w=30'
        error = response.json()["error"]
        assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
        await limited.post("/v1/quota")
        response = await limited.post("/v1/quota")
        assert response.status_code == 429
        error = response.json()["error"]
        assert error["type"] == "insufficient_quota" and error["code"] == "insufficient_quota"
        assert error["message"] == "Your monthly tokens are used up"


async def test_a_store_that_cannot_be_reached_is_a_503_not_a_lifted_limit():
    unreachable = RateLimiter(redis_storage("redis://127.0.0.1:1/0", key_prefix="parley-test-unreachable"))
    with pytest.raises(ServiceUnavailable) as refused:
        await unreachable.hit(ANON, "203.0.113.1")
    assert refused.value.status == 503 and refused.value.headers["Retry-After"] == "5"
