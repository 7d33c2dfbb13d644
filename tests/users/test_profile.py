"""A user's own profile: read it, rename, change the password."""

from __future__ import annotations

from tests.factories import PASSWORD, assert_problem, sign_in, signed_in_user

NEW_PASSWORD = "an even better passphrase"


class TestProfile:
    async def test_read_and_rename(self, client, app):
        me = await signed_in_user(app, client)
        body = (await client.get("/api/v1/users/me", headers=me.headers)).json()
        assert body["email"] == me.email and body["last_login_at"] is not None
        renamed = await client.patch("/api/v1/users/me", json={"full_name": "  Ada Lovelace "}, headers=me.headers)
        assert renamed.status_code == 200 and renamed.json()["full_name"] == "Ada Lovelace"
        assert (await client.get("/api/v1/users/me", headers=me.headers)).json()["full_name"] == "Ada Lovelace"

    async def test_role_tier_and_status_are_not_self_editable(self, client, app):
        me = await signed_in_user(app, client)
        for field, value in (("role", "admin"), ("subscription_tier", "enterprise"), ("is_active", False)):
            response = await client.patch("/api/v1/users/me", json={field: value}, headers=me.headers)
            assert_problem(response, 422)
        body = (await client.get("/api/v1/users/me", headers=me.headers)).json()
        assert (body["role"], body["subscription_tier"], body["is_active"]) == ("user", "free", True)


class TestPasswordChange:
    async def test_needs_the_current_password(self, client, app):
        me = await signed_in_user(app, client)
        response = await client.patch(
            "/api/v1/users/me",
            json={"current_password": "not my password", "new_password": NEW_PASSWORD},
            headers=me.headers,
        )
        assert "current password" in assert_problem(response, 422)["detail"]
        missing = await client.patch("/api/v1/users/me", json={"new_password": NEW_PASSWORD}, headers=me.headers)
        assert_problem(missing, 422)
        await sign_in(client, me.email, PASSWORD)

    async def test_new_password_must_pass_the_policy(self, client, app):
        me = await signed_in_user(app, client)
        response = await client.patch(
            "/api/v1/users/me", json={"current_password": PASSWORD, "new_password": "short"}, headers=me.headers
        )
        assert "at least 12" in assert_problem(response, 422)["detail"]

    async def test_change_signs_out_other_sessions_but_keeps_this_one(self, client, app):
        me = await signed_in_user(app, client)
        other = await sign_in(client, me.email, PASSWORD)
        response = await client.patch(
            "/api/v1/users/me",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=me.headers,
        )
        assert response.status_code == 200, response.text
        refresh_other = await client.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
        assert_problem(refresh_other, 401)
        refresh_mine = await client.post("/api/v1/auth/refresh", json={"refresh_token": me.refresh_token})
        assert refresh_mine.status_code == 200
        bad_old = await client.post("/api/v1/auth/login", json={"email": me.email, "password": PASSWORD})
        assert_problem(bad_old, 401)
        await sign_in(client, me.email, NEW_PASSWORD)
