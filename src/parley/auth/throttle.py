"""Sign-in throttling that slows password guessing down without letting anyone lock the rightful user out.

Four counts within `login_failure_window_seconds` (README, "Sign-in throttling"):

- per account: after `login_failures_per_account` failures (from anywhere), every further failure makes the next
  attempt wait twice as long as the last (1 s, 2 s, 4 s … up to `login_slowdown_max_seconds`). Guessing slows to a
  crawl, but the account is never closed for a quarter of an hour.
- per account and address: `login_failures_per_account_and_address` failures refuse further attempts at that
  account from that address until the window moves on. Only that address's own failures count here.
- per address: `login_failures_per_ip` failures (any accounts) refuse the address; high, because a whole office
  signs in from one address behind a NAT.
- recognised: an address (or a browser, by its device cookie) that signed in to the account within
  `login_recognised_address_days` is exempt from the per-account slow-down and the per-address limit, so failures
  elsewhere, or colleagues' failures behind the same NAT, never stand between the owner and their account. A
  recognised browser is counted by its device id instead of its address, so even an attacker behind the same
  address cannot use up its attempts.

Backed by the `limits` library: in-process memory by default; with `REDIS_URL`, Redis (`redis_storage`), so
every replica counts the same failures. Keys hold hashes, never an email or address in clear.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from limits import RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from parley.config import AuthSettings


def redis_storage(redis_url: str, *, key_prefix: str, connection_pool: Any = None, cluster: bool = False) -> Storage:
    """The `limits` storage on Redis (`async+redis://…` through redis-py's asyncio client), on the process's
    connection pool when one is given (so closing that client closes this storage too). With `cluster`, on the
    Redis Cluster `redis_url` names a node of (`limits`' own cluster client: every limit is one key, so each
    check is one slot's)."""
    scheme, separator, rest = redis_url.partition("://")
    if not separator or scheme not in ("redis", "rediss", "unix"):
        raise ValueError("REDIS_URL must be a redis://, rediss:// or unix:// URL")
    uri = f"async+{'redis+unix' if scheme == 'unix' else scheme}://{rest}"
    # wrap_exceptions: a failing Redis surfaces as `limits.errors.StorageError`, which callers can answer
    # (`policy.rates` with a 503) without importing the Redis client.
    options: dict[str, Any] = {"implementation": "redispy", "key_prefix": key_prefix, "wrap_exceptions": True}
    if cluster:
        if scheme == "unix":
            raise ValueError("a Redis Cluster is reached over TCP: REDIS_URL must be redis:// or rediss://")
        # A cluster has one database (no `/15`), and `limits` reads only the nodes and credentials of its URI.
        uri = f"async+redis+cluster://{rest.partition('/')[0].partition('?')[0]}"
        if scheme == "rediss":
            options["ssl"] = True
    elif connection_pool is not None:
        options["connection_pool"] = connection_pool
    storage = storage_from_string(uri, **options)
    assert isinstance(storage, Storage)
    return storage


def _key(kind: str, *parts: str) -> str:
    # Hashed: the store (Redis) never holds who tried to sign in from where.
    return f"{kind}:{hashlib.sha256(chr(0).join(parts).encode()).hexdigest()[:32]}"


class LoginThrottle:
    def __init__(self, settings: AuthSettings, storage: Storage | str = "async+memory://") -> None:
        if isinstance(storage, str):
            named = storage_from_string(storage)
            assert isinstance(named, Storage), "an async+ storage URI is required"
            storage = named
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._settings = settings
        window = settings.login_failure_window_seconds
        self._per_client = RateLimitItemPerSecond(settings.login_failures_per_account_and_address, window)
        self._per_ip = RateLimitItemPerSecond(settings.login_failures_per_ip, window)

    @property
    def storage(self) -> Storage:
        """The `limits` storage the throttle counts in; `policy.rates` counts in the same one (same Redis prefix,
        and `reset` forgets both)."""
        return self._storage

    async def retry_after(self, *, email: str, ip: str | None, device: str | None = None) -> int | None:
        """Seconds until this client may try to sign in to `email` again, or None when it may try now."""
        client = await self._client_key(email, ip, device)
        waits = []
        if not await self._limiter.test(self._per_client, client):
            waits.append(await self._reset_in(self._per_client, client))
        slowed = await self._slowdown_left(email)
        over_ip = ip is not None and not await self._limiter.test(self._per_ip, _key("ip", ip))
        if (slowed or over_ip) and not await self.recognises(email=email, ip=ip, device=device):
            if slowed:
                waits.append(slowed)
            if over_ip and ip is not None:
                waits.append(await self._reset_in(self._per_ip, _key("ip", ip)))
        return max(waits) if waits else None

    async def record_failure(self, *, email: str, ip: str | None, device: str | None = None) -> None:
        await self._limiter.hit(self._per_client, await self._client_key(email, ip, device))
        if ip is not None:
            await self._limiter.hit(self._per_ip, _key("ip", ip))
        failures = await self._storage.incr(_key("account", email), self._settings.login_failure_window_seconds)
        beyond = failures - self._settings.login_failures_per_account
        if beyond >= 0:
            # Doubling with each failure: the next attempt (from an address the account does not know) waits.
            delay = min(self._settings.login_slowdown_max_seconds, 2 ** min(beyond, 30))
            slowdown = _key("slowdown", email)
            await self._storage.clear(slowdown)
            await self._storage.incr(slowdown, delay)

    async def record_success(self, *, email: str, ip: str | None, device: str | None = None) -> None:
        """The client's own mistakes are forgiven, and its address and device become recognised for the account.
        Failures from elsewhere still count: they are someone else's guessing."""
        await self._storage.clear(await self._client_key(email, ip, device))
        lifetime = self._settings.login_recognised_address_days * 86_400
        for marker in self._markers(email, ip, device):
            await self._storage.clear(marker)
            await self._storage.incr(marker, lifetime)

    async def recognises(self, *, email: str, ip: str | None, device: str | None = None) -> bool:
        """Whether this address or device signed in to `email` successfully within the recognition period."""
        for marker in self._markers(email, ip, device):
            if await self._storage.get(marker) > 0:
                return True
        return False

    async def reset(self) -> None:
        await self._storage.reset()

    async def _client_key(self, email: str, ip: str | None, device: str | None) -> str:
        # A recognised browser has attempts of its own; anyone else at its address shares the address's.
        if device is not None and await self._storage.get(_key("known-device", email, device)) > 0:
            return _key("device", email, device)
        return _key("client", email, ip or "")

    def _markers(self, email: str, ip: str | None, device: str | None) -> list[str]:
        markers = []
        if ip is not None:
            markers.append(_key("known-ip", email, ip))
        if device is not None:
            markers.append(_key("known-device", email, device))
        return markers

    async def _slowdown_left(self, email: str) -> int:
        slowdown = _key("slowdown", email)
        if await self._storage.get(slowdown) <= 0:
            return 0
        return max(1, math.ceil(await self._storage.get_expiry(slowdown) - time.time()))

    async def _reset_in(self, item: RateLimitItemPerSecond, key: str) -> int:
        stats = await self._limiter.get_window_stats(item, key)
        return max(1, math.ceil(stats.reset_time - time.time()))
