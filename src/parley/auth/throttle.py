"""Sign-in throttling: failures per account and per client address within a moving window.

Backed by the `limits` library: in-process memory by default; with `REDIS_URL`, Redis (`redis_storage`), so
every replica counts the same failures.
"""

from __future__ import annotations

import math
import time
from typing import Any

from limits import RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from parley.config import AuthSettings


def redis_storage(redis_url: str, *, key_prefix: str, connection_pool: Any = None) -> Storage:
    """The `limits` storage on Redis (`async+redis://…` through redis-py's asyncio client), on the process's
    connection pool when one is given (so closing that client closes this storage too)."""
    scheme, separator, rest = redis_url.partition("://")
    if not separator or scheme not in ("redis", "rediss", "unix"):
        raise ValueError("REDIS_URL must be a redis://, rediss:// or unix:// URL")
    uri = f"async+{'redis+unix' if scheme == 'unix' else scheme}://{rest}"
    options: dict[str, Any] = {"implementation": "redispy", "key_prefix": key_prefix}
    if connection_pool is not None:
        options["connection_pool"] = connection_pool
    storage = storage_from_string(uri, **options)
    assert isinstance(storage, Storage)
    return storage


class LoginThrottle:
    def __init__(self, settings: AuthSettings, storage: Storage | str = "async+memory://") -> None:
        if isinstance(storage, str):
            named = storage_from_string(storage)
            assert isinstance(named, Storage), "an async+ storage URI is required"
            storage = named
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(self._storage)
        window = settings.login_failure_window_seconds
        self._per_account = RateLimitItemPerSecond(settings.login_failures_per_account, window)
        self._per_ip = RateLimitItemPerSecond(settings.login_failures_per_ip, window)

    async def retry_after(self, *, email: str, ip: str | None) -> int | None:
        """Seconds until another attempt is allowed, or None when the caller may try now."""
        waits = []
        for item, key in self._keys(email, ip):
            if not await self._limiter.test(item, key):
                stats = await self._limiter.get_window_stats(item, key)
                waits.append(max(1, math.ceil(stats.reset_time - time.time())))
        return max(waits) if waits else None

    async def record_failure(self, *, email: str, ip: str | None) -> None:
        for item, key in self._keys(email, ip):
            await self._limiter.hit(item, key)

    async def record_success(self, *, email: str) -> None:
        await self._limiter.clear(self._per_account, f"account:{email}")

    async def reset(self) -> None:
        await self._storage.reset()

    def _keys(self, email: str, ip: str | None) -> list[tuple[RateLimitItemPerSecond, str]]:
        keys = [(self._per_account, f"account:{email}")]
        if ip:
            keys.append((self._per_ip, f"ip:{ip}"))
        return keys
