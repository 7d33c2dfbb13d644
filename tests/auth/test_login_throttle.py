"""Sign-in throttling slows guessing down without locking the rightful user out: what an attacker, an office
behind one NAT and the account's owner each see. The policy is checked on both storages (in-process memory and
Redis, what several replicas share), and end to end through /login from different addresses."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from parley.auth.throttle import LoginThrottle, redis_storage
from parley.config import AuthSettings
from tests.factories import PASSWORD, TEST_AUTH, assert_problem, create_user

LOGIN = "/api/v1/auth/login"
OWNER_HOME = "198.51.100.7"
ATTACKER = "203.0.113.66"
OFFICE_NAT = "192.0.2.10"
WRONG = "not the password at all"


@dataclass
class Store:
    throttle: LoginThrottle
    keys: Callable[[], Awaitable[list[str]]]


@pytest_asyncio.fixture(loop_scope="session", params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    settings = AuthSettings(**TEST_AUTH)
    if request.param == "memory":
        limiter = LoginThrottle(settings)
        memory = limiter._storage

        async def memory_keys() -> list[str]:
            return [*memory.storage, *memory.events]  # type: ignore[attr-defined]

        yield Store(limiter, memory_keys)
    else:
        import redis.asyncio

        url = request.getfixturevalue("redis_url")
        prefix = f"{request.getfixturevalue('redis_key_prefix')}:throttle-{uuid.uuid4().hex[:8]}"
        limiter = LoginThrottle(settings, redis_storage(url, key_prefix=prefix))
        async with redis.asyncio.Redis.from_url(url) as raw:

            async def redis_keys() -> list[str]:
                return [key.decode() async for key in raw.scan_iter(match=f"{prefix}:*")]

            yield Store(limiter, redis_keys)
    await limiter.reset()


@pytest.fixture
def throttle(store: Store) -> LoginThrottle:
    return store.throttle


class TestPolicy:
    async def test_failures_for_an_account_slow_it_down_with_a_doubling_wait_not_a_lockout(self, throttle):
        email = "owner@example.com"
        for n in range(4):  # the first failures are free
            await throttle.record_failure(email=email, ip=f"203.0.113.{n}")
            assert await throttle.retry_after(email=email, ip="203.0.113.200") is None
        waits = []
        for n in range(4, 12):
            await throttle.record_failure(email=email, ip=f"203.0.113.{n}")
            waits.append(await throttle.retry_after(email=email, ip="203.0.113.200"))
        assert waits[:4] == [1, 2, 4, 8]
        assert waits == sorted(waits) and waits[-1] == 60  # capped at login_slowdown_max_seconds

    async def test_the_owners_recognised_address_and_browser_are_never_slowed_down(self, throttle):
        email = "owner@example.com"
        await throttle.record_success(email=email, ip=OWNER_HOME, device="laptop-" + "x" * 30)
        for n in range(40):
            await throttle.record_failure(email=email, ip=f"203.0.113.{n}")
        assert await throttle.retry_after(email=email, ip=OWNER_HOME) is None
        # The browser too, wherever it is now (a café).
        assert await throttle.retry_after(email=email, ip="100.64.0.9", device="laptop-" + "x" * 30) is None
        assert await throttle.retry_after(email=email, ip="100.64.0.9") is not None

    async def test_an_address_guessing_at_one_account_is_refused_for_it_alone(self, throttle):
        for _ in range(10):
            await throttle.record_failure(email="target@example.com", ip=ATTACKER)
        refused = await throttle.retry_after(email="target@example.com", ip=ATTACKER)
        assert refused is not None and refused > 60  # for the rest of the window
        assert await throttle.retry_after(email="colleague@example.com", ip=ATTACKER) is None

    async def test_an_office_behind_one_address_keeps_signing_in_while_someone_there_sprays(self, throttle):
        for n in range(40):  # more than the 30 that used to close the address to everyone
            await throttle.record_failure(email=f"spray{n}@example.com", ip=OFFICE_NAT)
        assert await throttle.retry_after(email="newcomer@example.com", ip=OFFICE_NAT) is None

    async def test_past_the_address_limit_only_accounts_that_know_the_address_get_through(self, throttle):
        await throttle.record_success(email="regular@example.com", ip=OFFICE_NAT)
        limited = LoginThrottle(AuthSettings(**TEST_AUTH, login_failures_per_ip=50), throttle._storage)
        for n in range(50):
            await limited.record_failure(email=f"spray{n}@example.com", ip=OFFICE_NAT)
        assert await limited.retry_after(email="newcomer@example.com", ip=OFFICE_NAT) is not None
        assert await limited.retry_after(email="regular@example.com", ip=OFFICE_NAT) is None

    async def test_a_recognised_browser_has_attempts_of_its_own_at_a_shared_address(self, throttle):
        device = "d" * 43
        await throttle.record_success(email="owner@example.com", ip=OFFICE_NAT, device=device)
        for _ in range(10):  # someone else at the office guesses at the owner's account
            await throttle.record_failure(email="owner@example.com", ip=OFFICE_NAT)
        assert await throttle.retry_after(email="owner@example.com", ip=OFFICE_NAT) is not None
        assert await throttle.retry_after(email="owner@example.com", ip=OFFICE_NAT, device=device) is None

    async def test_store_keys_name_no_email_or_address(self, store):
        await store.throttle.record_failure(email="private@example.com", ip="198.51.100.99")
        await store.throttle.record_success(email="private@example.com", ip="198.51.100.99")
        keys = await store.keys()
        assert keys and not any("private" in key or "198.51.100.99" in key for key in keys)


# End to end ---------------------------------------------------------------------------------------------------


def _from(app: FastAPI, ip: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 40000)), base_url="http://testserver")


async def _login(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await http.post(LOGIN, json={"email": email, "password": password})


class TestSignInUnderAttack:
    async def test_an_attacker_elsewhere_cannot_lock_the_owner_out(self, client, app):
        await create_user(app, email="owner@example.com")
        async with _from(app, OWNER_HOME) as home, _from(app, ATTACKER) as attacker, _from(app, "100.64.1.1") as cafe:
            assert (await _login(home, "owner@example.com", PASSWORD)).status_code == 200
            statuses, waits = [], []
            for _ in range(20):
                response = await _login(attacker, "owner@example.com", WRONG)
                statuses.append(response.status_code)
                if response.status_code == 429:
                    waits.append(int(response.headers["retry-after"]))
            assert statuses[:5] == [401] * 5 and 429 in statuses
            # From home, the right password works at once, in the middle of the attack.
            assert (await _login(home, "owner@example.com", PASSWORD)).status_code == 200
            # From an address the account does not know, the owner is slowed down, not shut out for 15 minutes.
            slowed = await _login(cafe, "owner@example.com", PASSWORD)
            if slowed.status_code == 429:
                assert int(slowed.headers["retry-after"]) <= 60
            else:
                assert slowed.status_code == 200

    async def test_thirty_failures_at_an_office_address_do_not_block_the_office(self, client, app):
        await create_user(app, email="regular@example.com")
        await create_user(app, email="newcomer@example.com")
        async with _from(app, OFFICE_NAT) as office:
            assert (await _login(office, "regular@example.com", PASSWORD)).status_code == 200
            for n in range(35):
                assert (await _login(office, f"spray{n}@example.com", WRONG)).status_code == 401
            assert (await _login(office, "regular@example.com", PASSWORD)).status_code == 200
            assert (await _login(office, "newcomer@example.com", PASSWORD)).status_code == 200

    async def test_the_owners_browser_gets_in_even_behind_the_attackers_address(self, client, app):
        await create_user(app, email="owner@example.com")
        async with _from(app, OFFICE_NAT) as browser, _from(app, OFFICE_NAT) as attacker:
            first = await _login(browser, "owner@example.com", PASSWORD)
            assert first.status_code == 200
            set_cookie = [h for h in first.headers.get_list("set-cookie") if h.startswith("parley_device=")]
            assert set_cookie and "httponly" in set_cookie[0].lower() and "samesite=strict" in set_cookie[0].lower()
            for _ in range(12):
                await _login(attacker, "owner@example.com", WRONG)
            assert_problem(await _login(attacker, "owner@example.com", PASSWORD), 429)
            assert (await _login(browser, "owner@example.com", PASSWORD)).status_code == 200
