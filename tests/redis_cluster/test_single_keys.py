"""The rest of what Parley keeps in Redis, on a cluster: the response cache (one key per answer) and the
read-your-writes positions of the read replica (one key per user, set by a script), as several replicas share
them."""

from __future__ import annotations

import asyncio
import uuid

from parley.config import Settings
from parley.llm.base import Usage
from parley.llm.redis_response_cache import RedisResponseCache
from parley.llm.response_cache import CachedAnswer
from parley.read_replica import ReadReplica, RedisWritePositions
from parley.redis_client import connect, is_cluster


async def test_a_cached_answer_stored_by_one_replica_is_found_by_another(redis_cluster_url, cluster_key_prefix):
    replicas = [connect(redis_cluster_url, cluster=True) for _ in range(2)]
    try:
        caches = [RedisResponseCache(client, prefix=cluster_key_prefix) for client in replicas]
        answers = {f"{n:064x}": CachedAnswer(f"answer {n}", "stop", Usage(3, n)) for n in range(50)}
        await asyncio.gather(*(caches[0].put(key, answer, ttl_seconds=60) for key, answer in answers.items()))
        found = await asyncio.gather(*(caches[1].get(key) for key in answers))
        assert found == list(answers.values())
        assert await caches[1].get("e" * 64) is None
    finally:
        for client in replicas:
            await client.aclose()


async def test_write_positions_keep_the_highest_across_replicas(redis_cluster_url, cluster_key_prefix):
    positions = [
        RedisWritePositions(connect(redis_cluster_url, cluster=True), prefix=cluster_key_prefix, ttl_seconds=30)
        for _ in range(2)
    ]
    try:
        users = [uuid.uuid4() for _ in range(20)]
        # Two replicas record each user's writes in either order: the highest position stays.
        await asyncio.gather(*(positions[n % 2].remember(user, 1_000 + n) for user in users for n in range(6)))
        assert await asyncio.gather(*(positions[1].pending(user) for user in users)) == [1_005] * 20
        assert await positions[0].pending(uuid.uuid4()) is None
    finally:
        for store in positions:
            await store.aclose()


async def test_the_read_replica_keeps_its_positions_on_the_cluster(settings: Settings, redis_cluster_url):
    clustered = settings.model_copy(
        update={"database_read_url": settings.database_url, "redis_url": redis_cluster_url, "redis_cluster": True}
    )
    replica = ReadReplica.from_settings(clustered)
    assert replica is not None
    try:
        assert isinstance(replica.positions, RedisWritePositions)
        assert is_cluster(replica.positions._client)
        user = uuid.uuid4()
        await replica.positions.remember(user, 42)
        assert await replica.positions.pending(user) == 42
    finally:
        await replica.positions.aclose()
        await replica.engine.dispose()
