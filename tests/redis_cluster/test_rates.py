"""Rate limits on a Redis Cluster (`limits`' cluster storage): the limiter tests of tests/policy/test_rates, and
two replicas' limiters admitting exactly the quota between them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from redis.asyncio.cluster import RedisCluster

from parley.auth.throttle import redis_storage
from parley.policy.rates import RateLimit, RateLimiter
from tests.policy import test_rates
from tests.policy.test_rates import Store


@pytest_asyncio.fixture(loop_scope="session")
async def store(redis_cluster_url: str, cluster_key_prefix: str) -> AsyncIterator[Store]:
    prefix = f"{cluster_key_prefix}:rates-{uuid.uuid4().hex[:8]}"
    storage = redis_storage(redis_cluster_url, key_prefix=prefix, cluster=True)
    await storage.check()  # as the app does: the cluster client's first command maps the slots
    raw = RedisCluster.from_url(redis_cluster_url)

    async def cluster_keys() -> list[str]:
        return [key.decode() async for key in raw.scan_iter(match=f"{prefix}:*")]

    yield Store(RateLimiter(storage), cluster_keys)
    await storage.reset()
    await raw.aclose()


@pytest.fixture
def limiter(store: Store) -> RateLimiter:
    return store.limiter


class TestLimiter(test_rates.TestLimiter):
    pass


class TestHeaders(test_rates.TestHeaders):
    pass


class TestReplicas:
    async def test_two_replicas_admit_exactly_the_quota_between_them(self, redis_cluster_url, cluster_key_prefix):
        prefix = f"{cluster_key_prefix}:rates-{uuid.uuid4().hex[:8]}"
        storages = [redis_storage(redis_cluster_url, key_prefix=prefix, cluster=True) for _ in range(2)]
        for storage in storages:
            assert await storage.check()
        replicas = [RateLimiter(storage) for storage in storages]
        limit = RateLimit("user-minute", quota=25, window_seconds=60)
        subjects = ["alice", "bob"]
        decisions = await asyncio.gather(*(replicas[n % 2].hit(limit, subjects[n % 4 // 2]) for n in range(200)))
        for subject in range(2):
            mine = [d for n, d in enumerate(decisions) if n % 4 // 2 == subject]
            assert sum(d.allowed for d in mine) == 25
        assert not (await replicas[1].peek(limit, "alice")).allowed
