"""Groups: administrators keep them; sharing a knowledge base with a group reaches exactly its members, and
membership changes take effect on the next request."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from parley.auth.permissions import Role
from parley.models import AuditEvent
from tests.factories import assert_problem, signed_in_user
from tests.knowledge_bases.arrange import add_chunks, create_file, near, unit_vector
from tests.retrieval.test_access import _search

ADMIN_GROUPS = "/api/v1/admin/groups"
KBS = "/api/v1/knowledge-bases"


async def _group(client, admin, name, description=""):
    response = await client.post(ADMIN_GROUPS, json={"name": name, "description": description}, headers=admin.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def _add(client, admin, group_id, **body):
    response = await client.post(f"{ADMIN_GROUPS}/{group_id}/members", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return response.json()


def _unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"


class TestAdministration:
    async def test_create_list_rename_and_delete(self, client, app, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        name = _unique("Finance")
        created = await _group(client, admin, f"  {name}  ", "Money people")
        assert created["name"] == name and created["description"] == "Money people" and created["member_count"] == 0

        listed = (await client.get(ADMIN_GROUPS, params={"q": name}, headers=admin.headers)).json()
        assert listed["total"] == 1 and listed["items"][0]["id"] == created["id"]

        renamed = await client.patch(
            f"{ADMIN_GROUPS}/{created['id']}", json={"name": f"{name} EMEA"}, headers=admin.headers
        )
        assert renamed.status_code == 200 and renamed.json()["name"] == f"{name} EMEA"
        assert renamed.json()["description"] == "Money people"

        assert (await client.delete(f"{ADMIN_GROUPS}/{created['id']}", headers=admin.headers)).status_code == 204
        assert_problem(await client.get(f"{ADMIN_GROUPS}/{created['id']}", headers=admin.headers), 404)
        actions = await session.scalars(
            select(AuditEvent.action).where(AuditEvent.target_id == created["id"]).order_by(AuditEvent.created_at)
        )
        assert list(actions) == ["group.create", "group.update", "group.delete"]

    async def test_names_are_unique_whatever_their_case(self, client, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        name = _unique("Legal")
        first = await _group(client, admin, name)
        problem = assert_problem(
            await client.post(ADMIN_GROUPS, json={"name": name.upper()}, headers=admin.headers), 409
        )
        assert "already exists" in problem["detail"]
        other = await _group(client, admin, _unique("Sales"))
        assert_problem(
            await client.patch(f"{ADMIN_GROUPS}/{other['id']}", json={"name": name.lower()}, headers=admin.headers),
            409,
        )
        # The failed rename left both groups as they were.
        assert (await client.get(f"{ADMIN_GROUPS}/{first['id']}", headers=admin.headers)).json()["name"] == name

    async def test_bad_input_is_422(self, client, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        for body in ({"name": "   "}, {"name": "x" * 101}, {"name": "ok", "owner": "me"}):
            assert_problem(await client.post(ADMIN_GROUPS, json=body, headers=admin.headers), 422)
        group = await _group(client, admin, _unique("Ops"))
        members = f"{ADMIN_GROUPS}/{group['id']}/members"
        for body in ({}, {"user_email": "a@example.com", "user_id": str(uuid.uuid4())}, {"user_email": "nobody@x.io"}):
            assert_problem(await client.post(members, json=body, headers=admin.headers), 422)

    async def test_members_are_added_once_listed_and_removed(self, client, app, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        alice = await signed_in_user(app, client)
        bob = await signed_in_user(app, client)
        group = await _group(client, admin, _unique("Platform"))
        members = f"{ADMIN_GROUPS}/{group['id']}/members"

        added = await _add(client, admin, group["id"], user_email=alice.email.upper())
        assert added["user_id"] == str(alice.id) and added["email"] == alice.email
        again = await _add(client, admin, group["id"], user_id=str(alice.id))
        assert again["added_at"] == added["added_at"]
        await _add(client, admin, group["id"], user_id=str(bob.id))

        page = (await client.get(members, headers=admin.headers)).json()
        assert page["total"] == 2 and {m["email"] for m in page["items"]} == {alice.email, bob.email}
        assert (await client.get(f"{ADMIN_GROUPS}/{group['id']}", headers=admin.headers)).json()["member_count"] == 2
        mine = (await client.get("/api/v1/users/me/groups", headers=alice.headers)).json()
        assert [g["id"] for g in mine] == [group["id"]]

        assert (await client.delete(f"{members}/{alice.id}", headers=admin.headers)).status_code == 204
        assert_problem(await client.delete(f"{members}/{alice.id}", headers=admin.headers), 404)
        assert (await client.get("/api/v1/users/me/groups", headers=alice.headers)).json() == []
        assert (await client.get(members, headers=admin.headers)).json()["total"] == 1

    async def test_only_admins_manage_groups_but_everyone_can_see_names_to_share_with(self, client, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        user = await signed_in_user(app, client)
        name = _unique("Research")
        group = await _group(client, admin, name, "Lab people")
        assert_problem(await client.get(ADMIN_GROUPS, headers=user.headers), 403)
        assert_problem(await client.post(ADMIN_GROUPS, json={"name": "mine"}, headers=user.headers), 403)
        assert_problem(
            await client.post(
                f"{ADMIN_GROUPS}/{group['id']}/members", json={"user_id": str(user.id)}, headers=user.headers
            ),
            403,
        )
        assert_problem(await client.get("/api/v1/groups"), 401)
        visible = (await client.get("/api/v1/groups", params={"q": name}, headers=user.headers)).json()
        assert visible == [{"id": group["id"], "name": name, "description": "Lab people", "member_count": 0}]


class TestSharingWithAGroup:
    async def test_a_group_grant_reaches_its_members_only_and_follows_membership(self, client, app, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        owner = await signed_in_user(app, client)
        member = await signed_in_user(app, client)
        outsider = await signed_in_user(app, client)
        group = await _group(client, admin, _unique("Analysts"))
        await _add(client, admin, group["id"], user_id=str(member.id))

        query = unit_vector(1)
        file_id = await create_file(app, owner.id, filename="q3-budget.txt")
        chunk_ids = await add_chunks(app, file_id, owner.id, [("budget figures for Q3", near(query, 5, 0.5))])
        kb = (await client.post(KBS, json={"name": "Budgets"}, headers=owner.headers)).json()
        await client.post(f"{KBS}/{kb['id']}/files", json={"file_id": str(file_id)}, headers=owner.headers)

        grant = await client.post(f"{KBS}/{kb['id']}/grants", json={"group_id": group["id"]}, headers=owner.headers)
        assert grant.status_code == 201, grant.text
        assert grant.json()["group_id"] == group["id"] and grant.json()["group_name"] == group["name"]
        listed = (await client.get(f"{KBS}/{kb['id']}/grants", headers=owner.headers)).json()
        assert [(g["group_id"], g["group_name"], g["user_email"]) for g in listed] == [
            (group["id"], group["name"], None)
        ]

        # The member sees the knowledge base, its file, and retrieves its chunk; the outsider sees nothing.
        seen = (await client.get(f"{KBS}/{kb['id']}", headers=member.headers)).json()
        assert seen["access"] == "read"
        assert (await client.get(f"/api/v1/files/{file_id}", headers=member.headers)).status_code == 200
        assert [c.chunk_id for c in await _search(session, member.id, vector=query)] == chunk_ids
        assert_problem(await client.get(f"{KBS}/{kb['id']}", headers=outsider.headers), 404)
        assert await _search(session, outsider.id, vector=query) == []

        # Write through the group: the member may add their own files.
        await client.post(
            f"{KBS}/{kb['id']}/grants", json={"group_id": group["id"], "permission": "write"}, headers=owner.headers
        )
        assert (await client.get(f"{KBS}/{kb['id']}", headers=member.headers)).json()["access"] == "write"

        # Leaving the group ends access on the next request.
        await client.delete(f"{ADMIN_GROUPS}/{group['id']}/members/{member.id}", headers=admin.headers)
        assert_problem(await client.get(f"{KBS}/{kb['id']}", headers=member.headers), 404)
        assert await _search(session, member.id, vector=query) == []

    async def test_deleting_a_group_withdraws_what_was_shared_with_it(self, client, app, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        owner = await signed_in_user(app, client)
        member = await signed_in_user(app, client)
        group = await _group(client, admin, _unique("Temp"))
        await _add(client, admin, group["id"], user_id=str(member.id))
        kb = (await client.post(KBS, json={"name": "Shared"}, headers=owner.headers)).json()
        await client.post(f"{KBS}/{kb['id']}/grants", json={"group_id": group["id"]}, headers=owner.headers)
        assert (await client.get(f"{KBS}/{kb['id']}", headers=member.headers)).status_code == 200

        await client.delete(f"{ADMIN_GROUPS}/{group['id']}", headers=admin.headers)
        assert_problem(await client.get(f"{KBS}/{kb['id']}", headers=member.headers), 404)
        assert (await client.get(f"{KBS}/{kb['id']}/grants", headers=owner.headers)).json() == []

    async def test_an_unknown_group_is_refused(self, client, app):
        owner = await signed_in_user(app, client)
        kb = (await client.post(KBS, json={"name": "Nobody"}, headers=owner.headers)).json()
        problem = assert_problem(
            await client.post(f"{KBS}/{kb['id']}/grants", json={"group_id": str(uuid.uuid4())}, headers=owner.headers),
            422,
        )
        assert "no such group" in problem["detail"]
        assert_problem(
            await client.post(
                f"{KBS}/{kb['id']}/grants",
                json={"group_id": str(uuid.uuid4()), "role": "user"},
                headers=owner.headers,
            ),
            422,
        )
