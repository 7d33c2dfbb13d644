"""The response cache on Redis (`REDIS_URL`): one cache for every replica. Each answer is one string key,
`{prefix}:cache:{sha256}`, holding the answer's JSON and expiring with the model's `ttl_seconds` (Redis drops it;
nothing sweeps). Kept apart from `llm.response_cache` so a single Parley process never imports the Redis client."""

from __future__ import annotations

import structlog
from redis.exceptions import RedisError

from parley.llm.response_cache import CachedAnswer
from parley.redis_client import RedisClient

_logger = structlog.get_logger("parley.llm.response_cache")


class RedisResponseCache:
    """`ResponseCache` on the process's Redis client. Redis unreachable: lookups miss and stores are skipped,
    with a warning; answers go to the provider as if nothing were cached."""

    def __init__(self, client: RedisClient, *, prefix: str) -> None:
        self._client = client
        self._prefix = f"{prefix}:cache:"

    def key(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> CachedAnswer | None:
        try:
            raw = await self._client.get(self.key(key))
        except RedisError as exc:
            _logger.warning("response_cache_unavailable", operation="get", error=str(exc))
            return None
        return None if raw is None else CachedAnswer.from_json(raw if isinstance(raw, bytes) else raw.encode())

    async def put(self, key: str, answer: CachedAnswer, *, ttl_seconds: float) -> None:
        try:
            await self._client.set(self.key(key), answer.to_json(), px=max(1, int(ttl_seconds * 1000)))
        except RedisError as exc:
            _logger.warning("response_cache_unavailable", operation="put", error=str(exc))
