"""Refresh-token rotation: each token works once; presented again within the grace window (tabs racing for one
refresh) it gets the same new pair; replayed after it, it ends the whole session."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

from parley.auth.permissions import Role
from parley.models import AuditEvent, RefreshToken
from tests.factories import PASSWORD, assert_problem, sign_in, signed_in_user


async def _refresh(client, token: str):
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})


async def _past_the_grace_window(app, session, user_id: uuid.UUID) -> None:
    """Make the user's used tokens look used longer ago than the grace window (no sleeping in tests)."""
    grace = app.state.security.settings.refresh_reuse_grace_seconds
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.used_at.is_not(None))
        .values(used_at=func.now() - timedelta(seconds=grace + 1))
    )
    await session.commit()


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
        await _past_the_grace_window(app, session, me.id)
        replay = await _refresh(client, me.refresh_token)
        assert "already used" in assert_problem(replay, 401)["detail"]
        # The thief's replay also ended the legitimate holder's newer token.
        assert_problem(await _refresh(client, newer), 401)
        actions = (await session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == me.id))).all()
        assert "auth.refresh_token_reuse" in actions

    async def test_other_sessions_survive_a_replay_in_one_session(self, client, app, session):
        me = await signed_in_user(app, client)
        laptop = await sign_in(client, me.email, PASSWORD)
        await _refresh(client, me.refresh_token)
        await _past_the_grace_window(app, session, me.id)
        assert_problem(await _refresh(client, me.refresh_token), 401)  # replay: this family dies
        assert (await _refresh(client, laptop["refresh_token"])).status_code == 200

    async def test_garbage_and_forged_successors_are_401(self, client, app):
        me = await signed_in_user(app, client)
        # A successor computed without the server's key (here: with a guessed one) is just an unknown token.
        from parley.auth.tokens import successor_refresh_token

        assert_problem(await _refresh(client, successor_refresh_token(me.refresh_token, b"guess")), 401)
        assert (await _refresh(client, me.refresh_token)).status_code == 200

    async def test_garbage_token_is_401(self, client):
        assert_problem(await _refresh(client, "not-a-token"), 401)

    async def test_suspended_user_cannot_refresh(self, client, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        me = await signed_in_user(app, client)
        suspended = await client.post(f"/api/v1/admin/users/{me.id}/suspend", headers=admin.headers)
        assert suspended.status_code == 200
        assert_problem(await _refresh(client, me.refresh_token), 401)


class TestGraceWindow:
    async def test_fifty_concurrent_refreshes_with_one_token_all_get_the_same_pair_and_the_session_lives(
        self, client, app, session
    ):
        me = await signed_in_user(app, client)
        responses = await asyncio.gather(*(_refresh(client, me.refresh_token) for _ in range(50)))
        assert [r.status_code for r in responses] == [200] * 50, [r.text for r in responses if r.status_code != 200]
        pairs = {(r.json()["access_token"], r.json()["refresh_token"]) for r in responses}
        assert len(pairs) == 1
        access_token, refresh_token = pairs.pop()
        assert (
            await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {access_token}"})
        ).status_code == 200
        assert (await _refresh(client, refresh_token)).status_code == 200
        actions = (await session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == me.id))).all()
        assert "auth.refresh_token_reuse" not in actions
        # One successor was stored, and only as a hash.
        stored = (await session.scalars(select(RefreshToken.token_hash).where(RefreshToken.user_id == me.id))).all()
        assert len(stored) == 3 and hashlib.sha256(refresh_token.encode()).hexdigest() in stored
        assert refresh_token not in stored

    async def test_a_repeat_within_the_window_gets_the_same_pair_and_after_it_ends_the_session(
        self, client, app, session
    ):
        me = await signed_in_user(app, client)
        first = (await _refresh(client, me.refresh_token)).json()
        again = await _refresh(client, me.refresh_token)
        assert again.status_code == 200 and again.json() == first
        await _past_the_grace_window(app, session, me.id)
        assert "already used" in assert_problem(await _refresh(client, me.refresh_token), 401)["detail"]
        assert_problem(await _refresh(client, first["refresh_token"]), 401)
        me_now = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {first['access_token']}"})
        assert_problem(me_now, 401)

    async def test_no_grace_once_the_session_has_ended(self, client, app):
        me = await signed_in_user(app, client)
        rotated = (await _refresh(client, me.refresh_token)).json()["refresh_token"]
        assert (await client.post("/api/v1/auth/logout", json={"refresh_token": rotated})).status_code == 204
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
    async def test_login_sets_an_httponly_cookie_that_refreshes_and_rotates(self, client, app, session):
        me = await signed_in_user(app, client)
        cookie = client.cookies.get("parley_refresh", path="/api/v1/auth")
        assert cookie == me.refresh_token
        response = await client.post("/api/v1/auth/refresh")
        assert response.status_code == 200, response.text
        set_cookie = response.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=strict" in set_cookie and "path=/api/v1/auth" in set_cookie
        assert client.cookies.get("parley_refresh", path="/api/v1/auth") == response.json()["refresh_token"]
        # The cookie's old value, sent by another tab at the same moment, gets the same pair; later it is dead
        # like any used refresh token.
        assert (await _refresh(client, cookie)).json() == response.json()
        await _past_the_grace_window(app, session, me.id)
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
