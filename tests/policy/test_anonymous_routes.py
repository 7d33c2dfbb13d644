"""The anonymous auth routes (register, sign in, refresh, sign out) share one per-address budget,
`limits.anonymous_per_minute` (here 3), on top of sign-in throttling: in-process and on Redis."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from parley.config import LimitsSettings, Settings
from tests.conftest import running_app
from tests.factories import PASSWORD, assert_problem, create_user

AUTH = "/api/v1/auth"


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=["memory", "redis"])
async def limited_app(request: pytest.FixtureRequest) -> AsyncIterator[FastAPI]:
    base: Settings = request.getfixturevalue("settings" if request.param == "memory" else "redis_settings")
    if request.param == "redis":
        base = base.model_copy(update={"redis_key_prefix": f"{base.redis_key_prefix}:anon-routes"})
    async with running_app(base.model_copy(update={"limits": LimitsSettings(anonymous_per_minute=3)})) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="session")
async def fresh(limited_app: FastAPI) -> AsyncIterator[FastAPI]:
    # Every test starts with untouched budgets (the limiter counts in the sign-in throttle's storage).
    await limited_app.state.security.login_throttle.reset()
    yield limited_app
    await limited_app.state.security.login_throttle.reset()


def _from(app: FastAPI, ip: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 40000)), base_url="http://testserver")


class TestPerAddress:
    async def test_all_anonymous_routes_share_one_budget_per_address_then_429(self, fresh):
        email = f"anon-{uuid.uuid4().hex[:8]}@example.com"
        await create_user(fresh, email=email)
        async with _from(fresh, "203.0.113.10") as http:
            answers = [
                await http.post(f"{AUTH}/login", json={"email": email, "password": "wrong password!"}),
                await http.post(f"{AUTH}/refresh", json={"refresh_token": "not-a-token"}),
                await http.post(f"{AUTH}/logout"),
            ]
            assert [a.status_code for a in answers] == [401, 401, 204]
            # The right password no longer helps: the address has used its minute's requests.
            refused = await http.post(f"{AUTH}/login", json={"email": email, "password": PASSWORD})
            registered = await http.post(
                f"{AUTH}/register", json={"email": "new@example.com", "password": PASSWORD * 2}
            )
        body = assert_problem(refused, 429)
        assert body["type"].endswith("/rate_limited") and body["limit"] == "anon" and body["quota"] == 3
        assert body["window_seconds"] == 60 and 1 <= body["retry_after"] <= 60
        assert refused.headers["Retry-After"] == str(body["retry_after"])
        assert "access_token" not in refused.text
        assert_problem(registered, 429)

    async def test_another_address_keeps_its_own_budget(self, fresh):
        async with _from(fresh, "203.0.113.20") as first, _from(fresh, "203.0.113.21") as second:
            for _ in range(3):
                assert (await first.post(f"{AUTH}/logout")).status_code == 204
            assert (await first.post(f"{AUTH}/logout")).status_code == 429
            assert (await second.post(f"{AUTH}/logout")).status_code == 204

    async def test_allowed_answers_say_what_is_left(self, fresh):
        email = f"headers-{uuid.uuid4().hex[:8]}@example.com"
        await create_user(fresh, email=email)
        async with _from(fresh, "203.0.113.30") as http:
            signed_in = await http.post(f"{AUTH}/login", json={"email": email, "password": PASSWORD})
            signed_out = await http.post(f"{AUTH}/logout")
            refused = await http.post(f"{AUTH}/logout")
            over = await http.post(f"{AUTH}/logout")
        assert signed_in.status_code == 200 and signed_out.status_code == 204 and refused.status_code == 204
        for answer, left in ((signed_in, 2), (signed_out, 1), (refused, 0), (over, 0)):
            assert answer.headers["RateLimit-Policy"] == '"anon";q=3;w=60'
            assert re.fullmatch(rf'"anon";r={left};t=\d+', answer.headers["RateLimit"]), answer.headers
        assert "Retry-After" not in signed_out.headers and over.status_code == 429

    async def test_refusals_of_allowed_requests_say_what_is_left_too(self, fresh):
        async with _from(fresh, "203.0.113.50") as http:
            wrong = await http.post(f"{AUTH}/login", json={"email": "nobody@example.com", "password": "wrong!!"})
            expired = await http.post(f"{AUTH}/refresh", json={"refresh_token": "not-a-token"})
        assert_problem(wrong, 401)
        assert_problem(expired, 401)
        assert re.fullmatch(r'"anon";r=2;t=\d+', wrong.headers["RateLimit"])
        assert re.fullmatch(r'"anon";r=1;t=\d+', expired.headers["RateLimit"])
        assert expired.headers["RateLimit-Policy"] == '"anon";q=3;w=60'
        assert expired.headers["WWW-Authenticate"].startswith("Bearer")

    async def test_a_forwarded_for_header_from_an_untrusted_peer_is_not_an_address(self, fresh):
        # The app itself never reads X-Forwarded-For (uvicorn applies it only from `forwarded_allow_ips`, see
        # test_replicas.py): a client naming a new address in each request still spends its own budget.
        async with _from(fresh, "203.0.113.40") as http:
            codes = [
                (await http.post(f"{AUTH}/logout", headers={"X-Forwarded-For": f"198.51.100.{n}"})).status_code
                for n in range(4)
            ]
        assert codes == [204, 204, 204, 429]
