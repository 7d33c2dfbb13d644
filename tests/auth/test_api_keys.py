"""API keys: shown once, stored hashed, usable like an access token within their scopes."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import select

from parley.auth.permissions import Role
from parley.models import ApiKey
from tests.factories import assert_problem, signed_in_user

KEYS = "/api/v1/users/me/api-keys"


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class TestApiKeys:
    async def test_create_shows_secret_once_and_list_never_does(self, client, app, session):
        me = await signed_in_user(app, client)
        created = await client.post(KEYS, json={"name": "CI script"}, headers=me.headers)
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["key"].startswith("pk-") and body["prefix"].startswith("pk-")
        assert body["key"].startswith(body["prefix"])
        assert "admin:users" not in body["scopes"] and "conversations:write" in body["scopes"]
        listed = (await client.get(KEYS, headers=me.headers)).json()
        assert [k["name"] for k in listed] == ["CI script"]
        assert "key" not in listed[0] and body["key"] not in str(listed)
        stored = await session.scalar(select(ApiKey).where(ApiKey.user_id == me.id))
        assert stored.secret_hash == hashlib.sha256(body["key"].encode()).hexdigest()
        assert body["key"] not in str(stored.__dict__)

    async def test_key_works_like_an_access_token_and_records_last_use(self, client, app):
        me = await signed_in_user(app, client)
        key = (await client.post(KEYS, json={"name": "sdk"}, headers=me.headers)).json()["key"]
        response = await client.get("/api/v1/users/me", headers=_bearer(key))
        assert response.status_code == 200 and response.json()["email"] == me.email
        created = await client.post("/api/v1/conversations", json={"title": "via key"}, headers=_bearer(key))
        assert created.status_code == 201
        listed = (await client.get(KEYS, headers=me.headers)).json()
        assert listed[0]["last_used_at"] is not None

    async def test_scopes_limit_what_a_key_can_do(self, client, app):
        me = await signed_in_user(app, client)
        key = (
            await client.post(KEYS, json={"name": "reader", "scopes": ["conversations:read"]}, headers=me.headers)
        ).json()["key"]
        assert (await client.get("/api/v1/conversations", headers=_bearer(key))).status_code == 200
        refused = await client.post("/api/v1/conversations", json={}, headers=_bearer(key))
        assert "conversations:write" in assert_problem(refused, 403)["detail"]

    async def test_user_cannot_mint_admin_scopes(self, client, app):
        me = await signed_in_user(app, client)
        response = await client.post(KEYS, json={"name": "x", "scopes": ["admin:users"]}, headers=me.headers)
        assert "admin:users" in assert_problem(response, 422)["detail"]

    async def test_admin_key_loses_admin_scope_when_owner_is_demoted(self, client, app):
        boss = await signed_in_user(app, client, role=Role.ADMIN)
        other_admin = await signed_in_user(app, client, role=Role.ADMIN)
        key = (await client.post(KEYS, json={"name": "ops", "scopes": ["admin:users"]}, headers=boss.headers)).json()[
            "key"
        ]
        assert (await client.get("/api/v1/admin/users", headers=_bearer(key))).status_code == 200
        demoted = await client.patch(
            f"/api/v1/admin/users/{boss.id}", json={"role": "user"}, headers=other_admin.headers
        )
        assert demoted.status_code == 200
        assert_problem(await client.get("/api/v1/admin/users", headers=_bearer(key)), 403)

    async def test_revoked_key_is_401_and_gone_from_the_list(self, client, app):
        me = await signed_in_user(app, client)
        created = (await client.post(KEYS, json={"name": "old"}, headers=me.headers)).json()
        assert (await client.delete(f"{KEYS}/{created['id']}", headers=me.headers)).status_code == 204
        assert_problem(await client.get("/api/v1/users/me", headers=_bearer(created["key"])), 401)
        assert (await client.get(KEYS, headers=me.headers)).json() == []
        assert_problem(await client.delete(f"{KEYS}/{created['id']}", headers=me.headers), 404)

    async def test_expired_key_is_401(self, client, app, session):
        me = await signed_in_user(app, client)
        created = (await client.post(KEYS, json={"name": "short", "expires_in_days": 1}, headers=me.headers)).json()
        stored = await session.get(ApiKey, uuid.UUID(created["id"]))
        stored.expires_at = stored.created_at
        await session.commit()
        assert_problem(await client.get("/api/v1/users/me", headers=_bearer(created["key"])), 401)

    async def test_wrong_secret_with_a_real_prefix_is_401(self, client, app):
        me = await signed_in_user(app, client)
        key = (await client.post(KEYS, json={"name": "k"}, headers=me.headers)).json()["key"]
        forged = key[: key.index("_") + 1] + "A" * 43
        assert_problem(await client.get("/api/v1/users/me", headers=_bearer(forged)), 401)

    async def test_another_users_key_cannot_be_revoked(self, client, app):
        alice = await signed_in_user(app, client)
        bob = await signed_in_user(app, client)
        created = (await client.post(KEYS, json={"name": "alice's"}, headers=alice.headers)).json()
        assert_problem(await client.delete(f"{KEYS}/{created['id']}", headers=bob.headers), 404)
        assert (await client.get("/api/v1/users/me", headers=_bearer(created["key"]))).status_code == 200

    async def test_keys_cannot_manage_keys(self, client, app):
        me = await signed_in_user(app, client)
        key = (await client.post(KEYS, json={"name": "k"}, headers=me.headers)).json()["key"]
        assert_problem(await client.post(KEYS, json={"name": "child"}, headers=_bearer(key)), 403)
