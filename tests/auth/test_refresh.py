"""Refresh-token rotation: each token works once; a replayed token ends the whole session."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from parley.auth.permissions import Role
from parley.models import AuditEvent
from tests.factories import PASSWORD, assert_problem, sign_in, signed_in_user


async def _refresh(client, token: str):
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})


class TestRotation:
    async def test_refresh_gives_a_new_working_pair_and_kills_the_old_token(self, client, app):
        me = await signed_in_user(app, client)
        first = await _refresh(client, me.refresh_token)
        assert first.status_code == 200, first.text
        pair = first.json()
        assert pair["refresh_token"] != me.refresh_token and pair["expires_in"] == 900
        ok = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
        assert ok.status_code == 200
        # The next token in the chain works too.
        assert (await _refresh(client, pair["refresh_token"])).status_code == 200

    async def test_reusing_a_used_token_revokes_the_family_including_newer_tokens(self, client, app, session):
        me = await signed_in_user(app, client)
        newer = (await _refresh(client, me.refresh_token)).json()["refresh_token"]
        replay = await _refresh(client, me.refresh_token)
        assert "already used" in assert_problem(replay, 401)["detail"]
        # The thief's replay also ended the legitimate holder's newer token.
        assert_problem(await _refresh(client, newer), 401)
        actions = (await session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == me.id))).all()
        assert "auth.refresh_token_reuse" in actions

    async def test_other_sessions_survive_a_replay_in_one_session(self, client, app):
        me = await signed_in_user(app, client)
        laptop = await sign_in(client, me.email, PASSWORD)
        await _refresh(client, me.refresh_token)
        await _refresh(client, me.refresh_token)  # replay: this family dies
        assert (await _refresh(client, laptop["refresh_token"])).status_code == 200

    async def test_fifty_concurrent_refreshes_with_one_token_exactly_one_succeeds(self, client, app):
        me = await signed_in_user(app, client)
        responses = await asyncio.gather(*(_refresh(client, me.refresh_token) for _ in range(50)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(200) == 1, statuses
        assert set(statuses) == {200, 401}

    async def test_garbage_token_is_401(self, client):
        assert_problem(await _refresh(client, "not-a-token"), 401)

    async def test_suspended_user_cannot_refresh(self, client, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        me = await signed_in_user(app, client)
        suspended = await client.post(f"/api/v1/admin/users/{me.id}/suspend", headers=admin.headers)
        assert suspended.status_code == 200
        assert_problem(await _refresh(client, me.refresh_token), 401)


class TestLogout:
    async def test_logout_revokes_the_session(self, client, app, session):
        me = await signed_in_user(app, client)
        rotated = (await _refresh(client, me.refresh_token)).json()["refresh_token"]
        response = await client.post("/api/v1/auth/logout", json={"refresh_token": rotated})
        assert response.status_code == 204
        assert_problem(await _refresh(client, rotated), 401)
        actions = (await session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == me.id))).all()
        assert "auth.logout" in actions

    async def test_logout_with_an_unknown_token_is_harmless(self, client):
        assert (await client.post("/api/v1/auth/logout", json={"refresh_token": "whatever"})).status_code == 204


class TestBrowserSessionCookie:
    async def test_login_sets_an_httponly_cookie_that_refreshes_and_rotates(self, client, app):
        me = await signed_in_user(app, client)
        cookie = client.cookies.get("parley_refresh", path="/api/v1/auth")
        assert cookie == me.refresh_token
        response = await client.post("/api/v1/auth/refresh")
        assert response.status_code == 200, response.text
        set_cookie = response.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=strict" in set_cookie and "path=/api/v1/auth" in set_cookie
        assert client.cookies.get("parley_refresh", path="/api/v1/auth") == response.json()["refresh_token"]
        # The cookie's old value is dead like any used refresh token.
        assert_problem(await _refresh(client, cookie), 401)

    async def test_logout_clears_the_cookie_and_ends_the_session(self, client, app):
        await signed_in_user(app, client)
        rotated = (await client.post("/api/v1/auth/refresh")).json()["refresh_token"]
        assert (await client.post("/api/v1/auth/logout")).status_code == 204
        assert client.cookies.get("parley_refresh", path="/api/v1/auth") is None
        assert_problem(await _refresh(client, rotated), 401)

    async def test_no_token_and_no_cookie_is_401(self, client):
        client.cookies.clear()
        assert_problem(await client.post("/api/v1/auth/refresh"), 401)
