"""Ending a session ends its access tokens at once: after signing out, a password change elsewhere, a replayed
refresh token or a suspension, the access token in hand is refused on the very next call (not up to 15
minutes later), for reading and for chatting alike."""

from __future__ import annotations

import httpx

from parley.auth.permissions import Role
from tests.factories import PASSWORD, SignedIn, assert_problem, sign_in, signed_in_user

ME = "/api/v1/users/me"
CHAT = "/api/v1/chat"


async def _refused(client: httpx.AsyncClient, access_token: str, status: int = 401) -> None:
    headers = {"Authorization": f"Bearer {access_token}"}
    assert_problem(await client.get(ME, headers=headers), status)
    assert_problem(await client.post(CHAT, json={"message": "still there?"}, headers=headers), status)


async def _works(client: httpx.AsyncClient, access_token: str) -> None:
    headers = {"Authorization": f"Bearer {access_token}"}
    assert (await client.get(ME, headers=headers)).status_code == 200
    chat = await client.post(CHAT, json={"message": "hello"}, headers=headers)
    assert chat.status_code == 200, chat.text


class TestAccessTokensDieWithTheirSession:
    async def test_after_logout(self, client, app):
        me = await signed_in_user(app, client)
        await _works(client, me.access_token)
        assert (await client.post("/api/v1/auth/logout", json={"refresh_token": me.refresh_token})).status_code == 204
        await _refused(client, me.access_token)

    async def test_logout_ends_only_that_session(self, client, app):
        me = await signed_in_user(app, client)
        laptop = await sign_in(client, me.email, PASSWORD)
        await client.post("/api/v1/auth/logout", json={"refresh_token": me.refresh_token})
        await _works(client, laptop["access_token"])

    async def test_after_a_password_change_other_sessions_die_and_this_one_lives(self, client, app):
        me = await signed_in_user(app, client)
        other = await sign_in(client, me.email, PASSWORD)
        changed = await client.patch(
            ME,
            json={"current_password": PASSWORD, "new_password": "an even better passphrase"},
            headers=me.headers,
        )
        assert changed.status_code == 200, changed.text
        await _refused(client, other["access_token"])
        await _works(client, me.access_token)

    async def test_after_a_replayed_refresh_token_both_holders_are_out(self, client, app, monkeypatch):
        # Past the grace window, presenting a used refresh token is theft: the family and its access tokens die.
        monkeypatch.setattr(app.state.security.settings, "refresh_reuse_grace_seconds", 0)
        me = await signed_in_user(app, client)
        rotated = await client.post("/api/v1/auth/refresh", json={"refresh_token": me.refresh_token})
        newer_access = rotated.json()["access_token"]
        replay = await client.post("/api/v1/auth/refresh", json={"refresh_token": me.refresh_token})
        assert_problem(replay, 401)
        await _refused(client, me.access_token)
        await _refused(client, newer_access)

    async def test_after_suspension_and_still_after_reinstatement(self, client, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        me: SignedIn = await signed_in_user(app, client)
        assert (await client.post(f"/api/v1/admin/users/{me.id}/suspend", headers=admin.headers)).status_code == 200
        await _refused(client, me.access_token, 403)
        # Reinstating the account does not bring its old sessions back: they were ended by the suspension.
        assert (await client.post(f"/api/v1/admin/users/{me.id}/unsuspend", headers=admin.headers)).status_code == 200
        await _refused(client, me.access_token)
        fresh = await sign_in(client, me.email, PASSWORD)
        await _works(client, fresh["access_token"])


class TestAcrossReplicas:
    async def test_signing_out_through_one_replica_refuses_the_token_on_another_at_once(
        self, client, redis_app, replica_b
    ):
        me = await signed_in_user(redis_app, client)
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=redis_app), base_url="http://a") as via_a,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=replica_b), base_url="http://b") as via_b,
        ):
            await _works(via_a, me.access_token)
            signed_out = await via_b.post("/api/v1/auth/logout", json={"refresh_token": me.refresh_token})
            assert signed_out.status_code == 204
            await _refused(via_a, me.access_token)
