"""Custom roles (issue 12): admins define roles as permission sets, give them to users directly or through a
group, and every change is felt on the holder's next request, by their sessions and their API keys alike."""

from __future__ import annotations

from typing import Any

import httpx

from parley.auth.permissions import Role
from tests.factories import SignedIn, assert_problem, signed_in_user

API = "/api/v1"
ROLES = f"{API}/admin/roles"
USER_PERMISSIONS = ["chat", "conversations:read", "conversations:write", "files:read", "files:write"]
PROFILE = ["profile:read", "profile:write"]


async def _role(client: httpx.AsyncClient, admin: SignedIn, name: str, permissions: list[str]) -> dict[str, Any]:
    response = await client.post(ROLES, json={"name": name, "permissions": permissions}, headers=admin.headers)
    assert response.status_code == 201, response.text
    role: dict[str, Any] = response.json()
    return role


async def _give(client: httpx.AsyncClient, admin: SignedIn, user: SignedIn, role: str) -> None:
    response = await client.patch(f"{API}/admin/users/{user.id}", json={"role": role}, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["role"] == role


async def _my_permissions(client: httpx.AsyncClient, headers: dict[str, str]) -> set[str]:
    response = await client.get(f"{API}/users/me", headers=headers)
    assert response.status_code == 200, response.text
    return set(response.json()["permissions"])


class TestAuditorRole:
    async def test_an_auditor_reads_the_audit_log_but_cannot_manage_users(self, client: httpx.AsyncClient, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        alice = await signed_in_user(app, client)
        await _role(client, admin, "auditor", [*PROFILE, "admin:audit"])
        await _give(client, admin, alice, "auditor")

        trail = await client.get(f"{API}/admin/audit-events", params={"action": "role.create"}, headers=alice.headers)
        assert trail.status_code == 200, trail.text
        assert [event["details"]["name"] for event in trail.json()["items"]] == ["auditor"]
        assert_problem(await client.get(f"{API}/admin/users", headers=alice.headers), 403)
        suspend = await client.post(f"{API}/admin/users/{admin.id}/suspend", headers=alice.headers)
        assert_problem(suspend, 403)
        assert_problem(await client.get(f"{API}/admin/analytics", headers=alice.headers), 403)
        assert_problem(await client.post(ROLES, json={"name": "x", "permissions": []}, headers=alice.headers), 403)
        # The role replaces `user` as Alice's own: she no longer chats.
        assert_problem(await client.get(f"{API}/conversations", headers=alice.headers), 403)
        assert await _my_permissions(client, alice.headers) == {*PROFILE, "admin:audit"}


class TestCuratorRole:
    async def test_a_curator_manages_knowledge_bases_nobody_shared_with_them(self, client: httpx.AsyncClient, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        owner = await signed_in_user(app, client)
        curator = await signed_in_user(app, client)
        created = await client.post(f"{API}/knowledge-bases", json={"name": "HR policies"}, headers=owner.headers)
        assert created.status_code == 201, created.text
        kb_id = created.json()["id"]
        assert_problem(await client.get(f"{API}/knowledge-bases/{kb_id}", headers=curator.headers), 404)

        await _role(client, admin, "curator", [*PROFILE, *USER_PERMISSIONS, "knowledge_bases:manage"])
        await _give(client, admin, curator, "curator")

        listed = await client.get(f"{API}/knowledge-bases", headers=curator.headers)
        assert [kb["name"] for kb in listed.json()["items"]] == ["HR policies"]
        renamed = await client.patch(
            f"{API}/knowledge-bases/{kb_id}", json={"name": "HR policies 2027"}, headers=curator.headers
        )
        assert renamed.status_code == 200, renamed.text
        shared = await client.post(
            f"{API}/knowledge-bases/{kb_id}/grants",
            json={"role": "user", "permission": "read"},
            headers=curator.headers,
        )
        assert shared.status_code == 201, shared.text
        # The owner sees the curator's work; another plain user now reads it through the grant.
        mine = await client.get(f"{API}/knowledge-bases/{kb_id}", headers=owner.headers)
        assert mine.json()["name"] == "HR policies 2027"
        # Everyone with the `user` role reads it now; a plain user is still no curator of anyone else's.
        other = await signed_in_user(app, client)
        assert (await client.get(f"{API}/knowledge-bases/{kb_id}", headers=other.headers)).status_code == 200
        private = await client.post(f"{API}/knowledge-bases", json={"name": "Mine"}, headers=other.headers)
        assert_problem(await client.get(f"{API}/knowledge-bases/{private.json()['id']}", headers=owner.headers), 404)
        assert (
            await client.get(f"{API}/knowledge-bases/{private.json()['id']}", headers=curator.headers)
        ).status_code == 200


class TestRolesThroughGroups:
    async def test_a_group_role_adds_its_permissions_to_every_member_until_they_leave(
        self, client: httpx.AsyncClient, app
    ):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        bob = await signed_in_user(app, client)
        await _role(client, admin, "analyst", ["admin:analytics"])
        group = await client.post(
            f"{API}/admin/groups", json={"name": "Finance", "role": "analyst"}, headers=admin.headers
        )
        assert group.status_code == 201, group.text
        assert group.json()["role"] == "analyst"
        group_id = group.json()["id"]
        assert_problem(await client.get(f"{API}/admin/analytics", headers=bob.headers), 403)

        added = await client.post(
            f"{API}/admin/groups/{group_id}/members", json={"user_id": str(bob.id)}, headers=admin.headers
        )
        assert added.status_code == 201, added.text
        assert (await client.get(f"{API}/admin/analytics", headers=bob.headers)).status_code == 200
        # On top of his own role: he still chats.
        assert (await client.get(f"{API}/conversations", headers=bob.headers)).status_code == 200

        left = await client.delete(f"{API}/admin/groups/{group_id}/members/{bob.id}", headers=admin.headers)
        assert left.status_code == 204
        assert_problem(await client.get(f"{API}/admin/analytics", headers=bob.headers), 403)

    async def test_taking_the_role_off_the_group_takes_it_from_members(self, client: httpx.AsyncClient, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        bob = await signed_in_user(app, client)
        await _role(client, admin, "analyst", ["admin:analytics"])
        group = (
            await client.post(f"{API}/admin/groups", json={"name": "G", "role": "analyst"}, headers=admin.headers)
        ).json()
        await client.post(
            f"{API}/admin/groups/{group['id']}/members", json={"user_id": str(bob.id)}, headers=admin.headers
        )
        assert "admin:analytics" in await _my_permissions(client, bob.headers)
        cleared = await client.patch(f"{API}/admin/groups/{group['id']}", json={"role": None}, headers=admin.headers)
        assert cleared.status_code == 200 and cleared.json()["role"] is None
        assert "admin:analytics" not in await _my_permissions(client, bob.headers)
        trail = await client.get(f"{API}/admin/audit-events", params={"action": "group.update"}, headers=admin.headers)
        assert [e["details"]["role"] for e in trail.json()["items"]] == [
            {"from": "analyst", "to": None},
            {"from": None, "to": "analyst"},
        ]


class TestChangesTakeEffectAtOnce:
    async def test_removing_a_permission_is_felt_on_the_next_request_by_sessions_and_keys(
        self, client: httpx.AsyncClient, app
    ):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        carol = await signed_in_user(app, client)
        role = await _role(client, admin, "ops", [*PROFILE, *USER_PERMISSIONS, "admin:models", "admin:plans"])
        await _give(client, admin, carol, "ops")
        key = await client.post(
            f"{API}/users/me/api-keys", json={"name": "k", "scopes": ["admin:models", "chat"]}, headers=carol.headers
        )
        assert key.status_code == 201, key.text
        key_headers = {"Authorization": f"Bearer {key.json()['key']}"}
        assert (await client.get(f"{API}/admin/models", headers=carol.headers)).status_code == 200
        assert (await client.get(f"{API}/admin/models", headers=key_headers)).status_code == 200

        cut = await client.patch(
            f"{ROLES}/{role['id']}",
            json={"permissions": [*PROFILE, *USER_PERMISSIONS, "admin:plans"]},
            headers=admin.headers,
        )
        assert cut.status_code == 200, cut.text
        assert_problem(await client.get(f"{API}/admin/models", headers=carol.headers), 403)
        # The key keeps its scope on paper but not beyond its owner: it is cut too, and says which scope it lacks.
        refused = assert_problem(await client.get(f"{API}/admin/models", headers=key_headers), 403)
        assert "admin:models" in refused["detail"]
        assert (await client.get("/v1/models", headers=key_headers)).status_code == 200
        assert (await client.get(f"{API}/admin/plans", headers=carol.headers)).status_code == 200

    async def test_a_key_cannot_be_created_beyond_the_owners_roles(self, client: httpx.AsyncClient, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        dave = await signed_in_user(app, client)
        await _role(client, admin, "auditor", [*PROFILE, "admin:audit"])
        group = (
            await client.post(f"{API}/admin/groups", json={"name": "Audit", "role": "auditor"}, headers=admin.headers)
        ).json()
        await client.post(
            f"{API}/admin/groups/{group['id']}/members", json={"user_id": str(dave.id)}, headers=admin.headers
        )
        granted = await client.post(
            f"{API}/users/me/api-keys", json={"name": "k", "scopes": ["admin:audit"]}, headers=dave.headers
        )
        assert granted.status_code == 201, granted.text
        beyond = await client.post(
            f"{API}/users/me/api-keys", json={"name": "k", "scopes": ["admin:users"]}, headers=dave.headers
        )
        assert "admin:users" in assert_problem(beyond, 422)["detail"]
        # Leaving the group takes the scope from the key made while in it.
        await client.delete(f"{API}/admin/groups/{group['id']}/members/{dave.id}", headers=admin.headers)
        key_headers = {"Authorization": f"Bearer {granted.json()['key']}"}
        assert_problem(await client.get(f"{API}/admin/audit-events", headers=key_headers), 403)


class TestRoleAdministration:
    async def test_list_shows_built_ins_and_custom_roles_with_their_holders(self, client: httpx.AsyncClient, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        eve = await signed_in_user(app, client)
        await _role(client, admin, "auditor", [*PROFILE, "admin:audit"])
        await _give(client, admin, eve, "auditor")
        listed = await client.get(ROLES, headers=admin.headers)
        assert listed.status_code == 200
        by_name = {role["name"]: role for role in listed.json()}
        assert list(by_name) == ["user", "admin", "auditor"]
        assert by_name["admin"]["built_in"] and by_name["admin"]["id"] is None
        assert "admin:roles" in by_name["admin"]["permissions"]
        assert "knowledge_bases:manage" not in by_name["admin"]["permissions"]
        assert by_name["auditor"]["user_count"] == 1 and not by_name["auditor"]["built_in"]
        assert by_name["admin"]["user_count"] == 1

    async def test_a_role_still_held_cannot_be_deleted(self, client: httpx.AsyncClient, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        eve = await signed_in_user(app, client)
        role = await _role(client, admin, "auditor", [*PROFILE, "admin:audit"])
        await _give(client, admin, eve, "auditor")
        await client.post(f"{API}/admin/groups", json={"name": "A", "role": "auditor"}, headers=admin.headers)
        refused = assert_problem(await client.delete(f"{ROLES}/{role['id']}", headers=admin.headers), 409)
        assert "1 user(s) and 1 group(s)" in refused["detail"]
        # Eve keeps what she had.
        assert (await client.get(f"{API}/admin/audit-events", headers=eve.headers)).status_code == 200

    async def test_delete_rename_and_audit(self, client: httpx.AsyncClient, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        eve = await signed_in_user(app, client)
        role = await _role(client, admin, "auditor", [*PROFILE, "admin:audit"])
        await _give(client, admin, eve, "auditor")
        renamed = await client.patch(f"{ROLES}/{role['id']}", json={"name": "reviewer"}, headers=admin.headers)
        assert renamed.status_code == 200 and renamed.json()["user_count"] == 1
        me = (await client.get(f"{API}/users/me", headers=eve.headers)).json()
        assert me["role"] == "reviewer" and "admin:audit" in me["permissions"]
        await _give(client, admin, eve, "user")
        assert (await client.delete(f"{ROLES}/{role['id']}", headers=admin.headers)).status_code == 204
        assert [r["name"] for r in (await client.get(ROLES, headers=admin.headers)).json()] == ["user", "admin"]
        trail = await client.get(f"{API}/admin/audit-events", headers=admin.headers)
        actions = [e["action"] for e in trail.json()["items"] if e["action"].startswith("role.")]
        assert actions == ["role.delete", "role.update", "role.create"]

    async def test_admins_may_only_hand_out_permissions_they_hold(self, client: httpx.AsyncClient, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        keeper = await signed_in_user(app, client)
        await _role(client, admin, "role-keeper", [*PROFILE, "admin:roles", "admin:users"])
        await _give(client, admin, keeper, "role-keeper")
        beyond = await client.post(ROLES, json={"name": "boss", "permissions": ["admin:plans"]}, headers=keeper.headers)
        assert "admin:plans" in assert_problem(beyond, 403)["detail"]
        # Nor make anyone (themselves included) an admin.
        promote = await client.patch(f"{API}/admin/users/{keeper.id}", json={"role": "admin"}, headers=keeper.headers)
        assert_problem(promote, 403)
        within = await client.post(
            ROLES, json={"name": "helper", "permissions": ["admin:users", "chat"]}, headers=keeper.headers
        )
        assert within.status_code == 201, within.text
        # Everyday permissions they need not hold: curating knowledge bases is no administration.
        curator = await client.post(
            ROLES, json={"name": "curator", "permissions": ["knowledge_bases:manage"]}, headers=keeper.headers
        )
        assert curator.status_code == 201, curator.text


class TestBadInput:
    async def test_unknown_permissions_built_in_and_duplicate_names_are_refused(self, client: httpx.AsyncClient, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        unknown = await client.post(
            ROLES, json={"name": "x", "permissions": ["admin:everything"]}, headers=admin.headers
        )
        assert_problem(unknown, 422)
        for name in ("admin", "user"):
            assert_problem(await client.post(ROLES, json={"name": name, "permissions": []}, headers=admin.headers), 409)
        assert_problem(
            await client.post(ROLES, json={"name": "Not A Slug", "permissions": []}, headers=admin.headers), 422
        )
        assert_problem(
            await client.post(ROLES, json={"name": "x", "permissions": [], "extra": 1}, headers=admin.headers), 422
        )
        first = await _role(client, admin, "auditor", ["admin:audit"])
        assert_problem(
            await client.post(ROLES, json={"name": "auditor", "permissions": []}, headers=admin.headers), 409
        )
        other = await _role(client, admin, "other", [])
        assert_problem(
            await client.patch(f"{ROLES}/{other['id']}", json={"name": "auditor"}, headers=admin.headers), 409
        )
        assert_problem(await client.patch(f"{ROLES}/{other['id']}", json={"name": "admin"}, headers=admin.headers), 409)
        assert_problem(
            await client.patch(f"{ROLES}/{first['id']}", json={"permissions": ["nope"]}, headers=admin.headers), 422
        )
        assert_problem(
            await client.patch(f"{ROLES}/00000000-0000-0000-0000-000000000000", json={}, headers=admin.headers), 404
        )
        assert_problem(await client.delete(f"{ROLES}/not-a-uuid", headers=admin.headers), 422)
        # Nothing half-created: the two roles are all there is.
        names = [r["name"] for r in (await client.get(ROLES, headers=admin.headers)).json() if not r["built_in"]]
        assert names == ["auditor", "other"]

    async def test_assigning_a_role_that_does_not_exist_is_refused(self, client: httpx.AsyncClient, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        eve = await signed_in_user(app, client)
        assert_problem(
            await client.patch(f"{API}/admin/users/{eve.id}", json={"role": "ghost"}, headers=admin.headers), 422
        )
        assert_problem(
            await client.post(f"{API}/admin/groups", json={"name": "G", "role": "ghost"}, headers=admin.headers), 422
        )
        # Groups carry custom roles only: admins are made one by one.
        assert_problem(
            await client.post(f"{API}/admin/groups", json={"name": "G", "role": "admin"}, headers=admin.headers), 422
        )
        groups = (await client.get(f"{API}/admin/groups", headers=admin.headers)).json()
        assert groups["total"] == 0
