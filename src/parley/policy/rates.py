"""One rate limiter for every limit Parley enforces: a moving window of `quota` hits per `window_seconds`,
counted per limit name and subject (a client address, a user id, an API key…).

Usage (the whole interface):

    ANON = RateLimit("anon", quota=600, window_seconds=60)
    decision = await limiter.hit(ANON, subject=ip)   # counts the hit (when it fits) and decides
    decision.enforce()                               # raises errors.RateLimited when it did not fit
    response.headers.update(decision.headers())      # RateLimit-Policy / RateLimit on allowed answers too

`RateLimiterDep` gives a route the app's limiter. Counts live in the `limits` storage the sign-in throttle
uses (`auth.throttle`): in-process memory, or with `REDIS_URL` Redis under `<redis_key_prefix>:limits`, where
the check-and-count is one Lua script, so replicas together admit exactly `quota` hits. Keys hold a hash of
the subject, never an address or id in clear.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from parley.errors import QuotaExceeded, RateLimited, ServiceUnavailable
from parley.metrics import instruments as metrics

# Storage calls of one limiter in flight at once. On Redis the limiter shares the process's connection pool
# (100 connections, and redis-py fails a command rather than wait when all are taken): without a bound, a few
# hundred requests arriving together took them all and were answered 500. Beyond it a request waits its turn.
MAX_CONCURRENT_CHECKS = 32


@dataclass(frozen=True)
class RateLimit:
    """A named limit: at most `quota` hits within any `window_seconds`. The name shows in the headers and in
    a refusal, so clients can tell limits apart (keep it a short token: `anon`, `user-minute`…)."""

    name: str
    quota: int
    window_seconds: int

    @property
    def policy_header(self) -> str:
        """The IETF `RateLimit-Policy` item (draft-ietf-httpapi-ratelimit-headers, structured-field form)."""
        return f'"{self.name}";q={self.quota};w={self.window_seconds}'


@dataclass(frozen=True)
class Decision:
    """What the limiter decided about one hit; the caller enforces it."""

    limit: RateLimit
    allowed: bool
    # Hits left in the window after this one (0 when refused).
    remaining: int
    # Epoch seconds when the oldest counted hit leaves the window (a hit fits again then, when refused).
    reset_at: float

    @property
    def reset_seconds(self) -> int:
        """Whole seconds until `reset_at` (at least 1: a client told 0 would try again at once)."""
        return max(1, math.ceil(self.reset_at - time.time()))

    @property
    def retry_after(self) -> int | None:
        """Seconds the client should wait before trying again, or None when this hit was allowed."""
        return None if self.allowed else self.reset_seconds

    def headers(self) -> dict[str, str]:
        """`RateLimit-Policy` and `RateLimit` (what is left, and in how many seconds the window frees up); with
        `Retry-After` when refused."""
        headers = {
            "RateLimit-Policy": self.limit.policy_header,
            "RateLimit": f'"{self.limit.name}";r={self.remaining};t={self.reset_seconds}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers

    def enforce(self, *, quota: bool = False, message: str | None = None) -> None:
        """Raise `RateLimited` (429, or `QuotaExceeded` with `quota=True`) when the hit was refused."""
        if self.allowed:
            return
        metrics.limit_refused(self.limit.name)
        error = QuotaExceeded if quota else RateLimited
        raise error(
            message
            or f"Too many requests: the {self.limit.name} limit allows {self.limit.quota} "
            f"per {self.limit.window_seconds} s; try again in {self.reset_seconds} s",
            limit=self.limit.name,
            quota=self.limit.quota,
            window_seconds=self.limit.window_seconds,
            resets_at=datetime.fromtimestamp(self.reset_at, UTC),
            headers=self.headers(),
        )


class RateLimiter:
    """Moving-window limits over a `limits` storage (memory by default; pass the Redis one for replicas).

    When the storage cannot be reached (Redis down), checks raise `ServiceUnavailable` (503): a limit that
    cannot be counted is not silently lifted."""

    def __init__(self, storage: Storage | None = None) -> None:
        if storage is None:
            memory = storage_from_string("async+memory://")
            assert isinstance(memory, Storage)
            storage = memory
        self._strategy = MovingWindowRateLimiter(storage)
        self._storage = storage
        # Checks against a store over the network go out side by side; in memory, one after the other is
        # cheaper than the tasks that would run them together.
        self._remote = not isinstance(storage, MemoryStorage)
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_CHECKS)

    async def hit(self, limit: RateLimit, subject: str, *, cost: int = 1) -> Decision:
        """Count `cost` hits of `subject` against `limit` if they fit (atomically, across replicas on Redis),
        and decide. A refused hit is not counted: a client that keeps trying is not kept out longer."""
        item = _item(limit)
        key = _subject_key(limit, subject)
        async with self._checking():
            allowed = await self._strategy.hit(item, key, cost=cost)
            return await self._decision(limit, item, key, allowed=allowed)

    async def hit_all(self, checks: Sequence[tuple[RateLimit, str]]) -> list[Decision]:
        """`hit` each (limit, subject), all of them counted whatever the others decide: on Redis in parallel
        (one round trip's wait for all), in memory in turn."""
        if self._remote and len(checks) > 1:
            return list(await asyncio.gather(*(self.hit(limit, subject) for limit, subject in checks)))
        return [await self.hit(limit, subject) for limit, subject in checks]

    async def peek(self, limit: RateLimit, subject: str) -> Decision:
        """The decision a hit would get now, without counting one."""
        item = _item(limit)
        key = _subject_key(limit, subject)
        async with self._checking():
            return await self._decision(limit, item, key, allowed=await self._strategy.test(item, key))

    async def clear(self, limit: RateLimit, subject: str) -> None:
        """Forget `subject`'s hits against `limit` (an administrator lifting a limit)."""
        async with self._checking():
            await self._strategy.clear(_item(limit), _subject_key(limit, subject))

    @contextlib.asynccontextmanager
    async def _checking(self) -> AsyncIterator[None]:
        async with self._slots:
            try:
                yield
            except StorageError as exc:
                raise ServiceUnavailable(
                    "Rate limits cannot be checked right now; try again shortly", headers={"Retry-After": "5"}
                ) from exc

    async def _decision(self, limit: RateLimit, item: RateLimitItemPerSecond, key: str, *, allowed: bool) -> Decision:
        stats = await self._strategy.get_window_stats(item, key)
        return Decision(limit=limit, allowed=allowed, remaining=max(0, stats.remaining), reset_at=stats.reset_time)


def _item(limit: RateLimit) -> RateLimitItemPerSecond:
    return RateLimitItemPerSecond(limit.quota, limit.window_seconds)


def _subject_key(limit: RateLimit, subject: str) -> str:
    # Hashed: the store (Redis) never holds who was counted. The quota and window are in the key too (the
    # `limits` item adds them), so changing a limit's setting starts it afresh instead of misreading old counts.
    return f"rate:{limit.name}:{hashlib.sha256(subject.encode()).hexdigest()[:32]}"


async def _rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


RateLimiterDep = Annotated[RateLimiter, Depends(_rate_limiter)]
