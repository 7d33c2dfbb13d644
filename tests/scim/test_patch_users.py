"""PATCH of users exactly as Microsoft Entra ID and Okta send it, and what a suspension by the IdP does."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select

from parley.models import AuditEvent, User
from tests.factories import assert_problem, signed_in_user
from tests.sse import parse_events

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


class TestEntraPatch:
    async def test_entra_attribute_updates(self, scim, session):
        user = await scim.create_user("ada@acme.test", externalId="obj-1")
        response = await scim.patch(
            f"/Users/{user['id']}",
            {"op": "Replace", "path": "displayName", "value": "Ada King"},
            {"op": "Add", "path": "externalId", "value": "obj-2"},
            {"op": "Replace", "path": "name.givenName", "value": "Ada"},
            {"op": "Add", "path": 'emails[type eq "work"].value', "value": "ada@acme.test"},
            {"op": "Add", "path": f"{ENTERPRISE}:department", "value": "Research"},
            {"op": "Replace", "path": "title", "value": "Countess"},
            {"op": "Replace", "path": "userName", "value": "Ada.King@acme.test"},
        )
        assert response.status_code == 200, response.text
        patched = response.json()
        assert patched["displayName"] == "Ada King" and patched["externalId"] == "obj-2"
        assert patched["userName"] == "ada.king@acme.test"
        stored = await session.get(User, user["id"])
        assert stored is not None and stored.email == "ada.king@acme.test" and stored.full_name == "Ada King"

    async def test_entra_sends_booleans_as_strings(self, scim):
        user = await scim.create_user("ada@acme.test")
        off = await scim.patch(f"/Users/{user['id']}", {"op": "Replace", "path": "active", "value": "False"})
        assert off.status_code == 200 and off.json()["active"] is False
        on = await scim.patch(f"/Users/{user['id']}", {"op": "Replace", "path": "active", "value": "True"})
        assert on.status_code == 200 and on.json()["active"] is True


class TestOktaPatch:
    async def test_okta_replace_without_path(self, scim):
        user = await scim.create_user("grace@acme.test")
        response = await scim.patch(f"/Users/{user['id']}", {"op": "replace", "value": {"active": False}})
        assert response.status_code == 200 and response.json()["active"] is False

    async def test_okta_profile_push_with_a_whole_value(self, scim):
        user = await scim.create_user("grace@acme.test")
        value = {
            "id": user["id"],
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "grace.hopper@acme.test",
            "name": {"givenName": "Grace", "familyName": "Hopper"},
            "emails": [{"value": "grace.hopper@acme.test", "primary": True, "type": "work"}],
            "active": True,
        }
        response = await scim.patch(f"/Users/{user['id']}", {"op": "replace", "value": value})
        assert response.status_code == 200, response.text
        assert response.json()["userName"] == "grace.hopper@acme.test"
        assert response.json()["displayName"] == "Grace Hopper"


class TestSuspensionByTheIdp:
    async def test_suspension_stops_the_signed_in_users_next_request_and_their_api_key(self, scim, app, client):
        me = await signed_in_user(app, client)
        key = (await client.post("/api/v1/users/me/api-keys", json={"name": "k"}, headers=me.headers)).json()["key"]
        key_headers = {"Authorization": f"Bearer {key}"}
        assert (await client.get("/api/v1/users/me", headers=key_headers)).status_code == 200

        response = await scim.patch(f"/Users/{me.id}", {"op": "Replace", "path": "active", "value": "False"})
        assert response.status_code == 200, response.text

        assert_problem(await client.get("/api/v1/users/me", headers=me.headers), 403)
        assert_problem(await client.get("/api/v1/users/me", headers=key_headers), 403)
        refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": me.refresh_token})
        assert refresh.status_code in (401, 403)
        # Reinstated by the IdP, the API key works again (the ended sessions stay ended).
        await scim.patch(f"/Users/{me.id}", {"op": "replace", "value": {"active": True}})
        assert (await client.get("/api/v1/users/me", headers=key_headers)).status_code == 200

    async def test_delete_by_the_idp_stops_the_signed_in_user(self, scim, app, client):
        me = await signed_in_user(app, client)
        assert (await scim.request("DELETE", f"/Users/{me.id}")).status_code == 204
        assert_problem(await client.get("/api/v1/users/me", headers=me.headers), 403)

    async def test_the_answer_being_written_stops(self, scim, app, client, live_url):
        me = await signed_in_user(app, client)
        body = {"message": " ".join(f"word{n}" for n in range(400)), "model": "slow"}
        async with (
            httpx.AsyncClient(base_url=live_url, timeout=10) as http,
            http.stream("POST", "/api/v1/chat", json=body, headers=me.headers) as response,
        ):
            assert response.status_code == 200
            chunks = response.aiter_text()
            seen = ""
            while seen.count("event: delta") < 3:
                seen += await anext(chunks)
            off = await scim.patch(f"/Users/{me.id}", {"op": "Replace", "path": "active", "value": "False"})
            assert off.status_code == 200, off.text
            rest = ""
            async with asyncio.timeout(3):  # unstopped, the answer would go on for about 15 more seconds
                async for chunk in chunks:
                    rest += chunk
        done = [event for event in parse_events(rest) if event.event == "done"]
        assert done and done[0].data["finish_reason"] == "cancelled"

    async def test_the_suspension_is_audited_as_the_scim_clients(self, scim, app, client, session):
        me = await signed_in_user(app, client)
        await scim.patch(f"/Users/{me.id}", {"op": "replace", "path": "active", "value": False})
        update = await session.scalar(select(AuditEvent).where(AuditEvent.action == "scim.user_update"))
        assert update is not None and update.actor_id is None and update.details["actor"] == "scim"
        assert update.details["changes"]["active"] == {"from": True, "to": False}
        suspend = await session.scalar(select(AuditEvent).where(AuditEvent.action == "admin.user_suspend"))
        assert suspend is not None and suspend.details == {"via": "scim"}
