"""Knowledge bases through the HTTP API: CRUD, files, grants (user and role), conversation attachment."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from parley.auth.permissions import Role
from parley.models import AuditEvent
from tests.factories import assert_problem, signed_in_user
from tests.knowledge_bases.arrange import create_file

KBS = "/api/v1/knowledge-bases"
CONVERSATIONS = "/api/v1/conversations"


async def _create(client, headers, name="Handbook", description=""):
    response = await client.post(KBS, json={"name": name, "description": description}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def _grant(client, owner_headers, kb_id, **body):
    response = await client.post(f"{KBS}/{kb_id}/grants", json=body, headers=owner_headers)
    assert response.status_code == 201, response.text
    return response.json()


async def _audit_actions(session, target_id) -> list[str]:
    rows = await session.scalars(
        select(AuditEvent.action).where(AuditEvent.target_id == str(target_id)).order_by(AuditEvent.created_at)
    )
    return list(rows)


class TestCrud:
    async def test_create_read_update_delete(self, client, app, session):
        me = await signed_in_user(app, client)
        created = await _create(client, me.headers, name="  Sales   playbook ", description="How we sell")
        assert created["name"] == "Sales playbook" and created["description"] == "How we sell"
        assert created["access"] == "owner" and created["file_count"] == 0 and created["owner_id"] == str(me.id)

        read = await client.get(f"{KBS}/{created['id']}", headers=me.headers)
        assert read.status_code == 200 and read.json()["name"] == "Sales playbook"

        patched = await client.patch(f"{KBS}/{created['id']}", json={"description": "Updated"}, headers=me.headers)
        assert patched.status_code == 200, patched.text
        assert patched.json()["description"] == "Updated" and patched.json()["name"] == "Sales playbook"

        assert (await client.delete(f"{KBS}/{created['id']}", headers=me.headers)).status_code == 204
        assert_problem(await client.get(f"{KBS}/{created['id']}", headers=me.headers), 404)
        assert await _audit_actions(session, created["id"]) == ["knowledge_base.delete"]

    async def test_list_is_cursor_paginated_newest_first(self, client, app):
        me = await signed_in_user(app, client)
        names = [f"kb {n}" for n in range(5)]
        for name in names:
            await _create(client, me.headers, name=name)
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(KBS, params=params, headers=me.headers)).json()
            seen += [kb["name"] for kb in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == list(reversed(names))

    async def test_blank_name_is_422(self, client, app):
        me = await signed_in_user(app, client)
        assert_problem(await client.post(KBS, json={"name": "   "}, headers=me.headers), 422)

    async def test_another_users_knowledge_base_is_404_everywhere(self, client, app):
        owner = await signed_in_user(app, client)
        stranger = await signed_in_user(app, client)
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        kb = await _create(client, owner.headers)
        for caller in (stranger, admin):
            assert_problem(await client.get(f"{KBS}/{kb['id']}", headers=caller.headers), 404)
            assert_problem(await client.patch(f"{KBS}/{kb['id']}", json={"name": "x"}, headers=caller.headers), 404)
            assert_problem(await client.delete(f"{KBS}/{kb['id']}", headers=caller.headers), 404)
            assert_problem(await client.get(f"{KBS}/{kb['id']}/files", headers=caller.headers), 404)
            assert_problem(await client.get(f"{KBS}/{kb['id']}/grants", headers=caller.headers), 404)
            grant = {"role": "user"}
            assert_problem(await client.post(f"{KBS}/{kb['id']}/grants", json=grant, headers=caller.headers), 404)
            assert (await client.get(KBS, headers=caller.headers)).json()["items"] == []
        assert (await client.get(f"{KBS}/{kb['id']}", headers=owner.headers)).status_code == 200


class TestFiles:
    async def test_owner_adds_lists_and_removes_own_files(self, client, app):
        me = await signed_in_user(app, client)
        kb = await _create(client, me.headers)
        first = await create_file(app, me.id, filename="a.txt")
        second = await create_file(app, me.id, filename="b.pdf")
        for file_id in (first, second, first):  # adding twice is harmless
            response = await client.post(f"{KBS}/{kb['id']}/files", json={"file_id": str(file_id)}, headers=me.headers)
            assert response.status_code == 201, response.text
        assert response.json()["filename"] == "a.txt" and response.json()["owner_id"] == str(me.id)

        listed = (await client.get(f"{KBS}/{kb['id']}/files", headers=me.headers)).json()
        assert sorted(f["filename"] for f in listed["items"]) == ["a.txt", "b.pdf"]
        assert (await client.get(f"{KBS}/{kb['id']}", headers=me.headers)).json()["file_count"] == 2

        assert (await client.delete(f"{KBS}/{kb['id']}/files/{first}", headers=me.headers)).status_code == 204
        assert_problem(await client.delete(f"{KBS}/{kb['id']}/files/{first}", headers=me.headers), 404)
        listed = (await client.get(f"{KBS}/{kb['id']}/files", headers=me.headers)).json()
        assert [f["filename"] for f in listed["items"]] == ["b.pdf"]

    async def test_only_your_own_files_can_be_added(self, client, app):
        me = await signed_in_user(app, client)
        other = await signed_in_user(app, client)
        kb = await _create(client, me.headers)
        theirs = await create_file(app, other.id)
        body = {"file_id": str(theirs)}
        assert_problem(await client.post(f"{KBS}/{kb['id']}/files", json=body, headers=me.headers), 404)
        missing = {"file_id": str(uuid.uuid4())}
        assert_problem(await client.post(f"{KBS}/{kb['id']}/files", json=missing, headers=me.headers), 404)
        assert (await client.get(f"{KBS}/{kb['id']}", headers=me.headers)).json()["file_count"] == 0

    async def test_read_grant_lists_files_but_cannot_change_them(self, client, app):
        owner = await signed_in_user(app, client)
        reader = await signed_in_user(app, client)
        kb = await _create(client, owner.headers)
        owners_file = await create_file(app, owner.id, filename="policy.txt")
        await client.post(f"{KBS}/{kb['id']}/files", json={"file_id": str(owners_file)}, headers=owner.headers)
        await _grant(client, owner.headers, kb["id"], user_email=reader.email, permission="read")

        listed = (await client.get(f"{KBS}/{kb['id']}/files", headers=reader.headers)).json()
        assert [f["filename"] for f in listed["items"]] == ["policy.txt"]
        readers_file = await create_file(app, reader.id)
        body = {"file_id": str(readers_file)}
        assert_problem(await client.post(f"{KBS}/{kb['id']}/files", json=body, headers=reader.headers), 403)
        assert_problem(await client.delete(f"{KBS}/{kb['id']}/files/{owners_file}", headers=reader.headers), 403)
        assert_problem(await client.patch(f"{KBS}/{kb['id']}", json={"name": "x"}, headers=reader.headers), 403)

    async def test_write_grant_adds_own_files_and_renames_but_cannot_delete_or_share(self, client, app):
        owner = await signed_in_user(app, client)
        writer = await signed_in_user(app, client)
        kb = await _create(client, owner.headers)
        await _grant(client, owner.headers, kb["id"], user_id=str(writer.id), permission="write")
        writers_file = await create_file(app, writer.id, filename="w.txt")
        added = await client.post(
            f"{KBS}/{kb['id']}/files", json={"file_id": str(writers_file)}, headers=writer.headers
        )
        assert added.status_code == 201, added.text
        renamed = await client.patch(f"{KBS}/{kb['id']}", json={"name": "Team"}, headers=writer.headers)
        assert renamed.status_code == 200 and renamed.json()["access"] == "write"

        assert_problem(await client.delete(f"{KBS}/{kb['id']}", headers=writer.headers), 403)
        assert_problem(await client.get(f"{KBS}/{kb['id']}/grants", headers=writer.headers), 403)
        outsider = await signed_in_user(app, client)
        body = {"user_id": str(outsider.id)}
        assert_problem(await client.post(f"{KBS}/{kb['id']}/grants", json=body, headers=writer.headers), 403)
        assert (await client.get(f"{KBS}/{kb['id']}", headers=outsider.headers)).status_code == 404


class TestGrants:
    async def test_grant_by_email_shows_in_the_grantees_list_and_revoking_ends_access_at_once(
        self, client, app, session
    ):
        owner = await signed_in_user(app, client)
        grantee = await signed_in_user(app, client)
        kb = await _create(client, owner.headers)
        grant = await _grant(client, owner.headers, kb["id"], user_email=grantee.email.upper())
        assert grant["user_id"] == str(grantee.id) and grant["user_email"] == grantee.email
        assert grant["permission"] == "read" and grant["role"] is None

        listed = (await client.get(KBS, headers=grantee.headers)).json()["items"]
        assert [(k["id"], k["access"]) for k in listed] == [(kb["id"], "read")]
        grants = (await client.get(f"{KBS}/{kb['id']}/grants", headers=owner.headers)).json()
        assert [g["id"] for g in grants] == [grant["id"]]

        deleted = await client.delete(f"{KBS}/{kb['id']}/grants/{grant['id']}", headers=owner.headers)
        assert deleted.status_code == 204
        assert_problem(await client.get(f"{KBS}/{kb['id']}", headers=grantee.headers), 404)
        assert (await client.get(KBS, headers=grantee.headers)).json()["items"] == []
        assert_problem(await client.delete(f"{KBS}/{kb['id']}/grants/{grant['id']}", headers=owner.headers), 404)
        assert await _audit_actions(session, kb["id"]) == [
            "knowledge_base.grant_create",
            "knowledge_base.grant_delete",
        ]

    async def test_grant_to_a_role_reaches_everyone_with_it(self, client, app):
        owner = await signed_in_user(app, client)
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        plain_user = await signed_in_user(app, client)
        kb = await _create(client, owner.headers)
        grant = await _grant(client, owner.headers, kb["id"], role="admin", permission="write")
        assert grant["role"] == "admin" and grant["user_id"] is None

        assert (await client.get(f"{KBS}/{kb['id']}", headers=admin.headers)).json()["access"] == "write"
        assert_problem(await client.get(f"{KBS}/{kb['id']}", headers=plain_user.headers), 404)

    async def test_granting_again_changes_the_permission(self, client, app):
        owner = await signed_in_user(app, client)
        grantee = await signed_in_user(app, client)
        kb = await _create(client, owner.headers)
        first = await _grant(client, owner.headers, kb["id"], user_id=str(grantee.id), permission="read")
        second = await _grant(client, owner.headers, kb["id"], user_email=grantee.email, permission="write")
        assert second["id"] == first["id"] and second["permission"] == "write"
        assert (await client.get(f"{KBS}/{kb['id']}", headers=grantee.headers)).json()["access"] == "write"

    async def test_bad_grantees_are_refused(self, client, app):
        owner = await signed_in_user(app, client)
        kb = await _create(client, owner.headers)
        url = f"{KBS}/{kb['id']}/grants"
        for body in (
            {"user_email": owner.email},  # yourself
            {"user_id": str(owner.id)},
            {"user_email": "nobody@example.com"},  # unknown
            {"user_id": str(uuid.uuid4())},
            {"role": "superuser"},
            {},  # no grantee
            {"role": "user", "user_id": str(owner.id)},  # two grantees
            {"role": "user", "permission": "admin"},
        ):
            assert_problem(await client.post(url, json=body, headers=owner.headers), 422)
        assert (await client.get(url, headers=owner.headers)).json() == []


class TestConversationAttachment:
    async def _conversation(self, client, headers) -> str:
        response = await client.post(CONVERSATIONS, json={"title": "Q&A"}, headers=headers)
        assert response.status_code == 201
        return str(response.json()["id"])

    async def test_attach_list_detach(self, client, app):
        me = await signed_in_user(app, client)
        conversation = await self._conversation(client, me.headers)
        kb = await _create(client, me.headers)
        url = f"{CONVERSATIONS}/{conversation}/knowledge-bases"
        for _ in range(2):  # PUT is idempotent
            attached = await client.put(f"{url}/{kb['id']}", headers=me.headers)
            assert attached.status_code == 200, attached.text
        assert [k["id"] for k in (await client.get(url, headers=me.headers)).json()] == [kb["id"]]
        assert (await client.delete(f"{url}/{kb['id']}", headers=me.headers)).status_code == 204
        assert (await client.get(url, headers=me.headers)).json() == []
        assert_problem(await client.delete(f"{url}/{kb['id']}", headers=me.headers), 404)

    async def test_conversation_must_be_mine_and_knowledge_base_readable(self, client, app):
        me = await signed_in_user(app, client)
        other = await signed_in_user(app, client)
        mine = await self._conversation(client, me.headers)
        theirs = await self._conversation(client, other.headers)
        my_kb = await _create(client, me.headers)
        their_kb = await _create(client, other.headers)
        assert_problem(
            await client.put(f"{CONVERSATIONS}/{theirs}/knowledge-bases/{my_kb['id']}", headers=me.headers), 404
        )
        assert_problem(await client.get(f"{CONVERSATIONS}/{theirs}/knowledge-bases", headers=me.headers), 404)
        assert_problem(
            await client.put(f"{CONVERSATIONS}/{mine}/knowledge-bases/{their_kb['id']}", headers=me.headers), 404
        )

    async def test_a_lost_grant_drops_the_knowledge_base_from_the_conversation(self, client, app):
        owner = await signed_in_user(app, client)
        me = await signed_in_user(app, client)
        kb = await _create(client, owner.headers)
        grant = await _grant(client, owner.headers, kb["id"], user_id=str(me.id))
        conversation = await self._conversation(client, me.headers)
        url = f"{CONVERSATIONS}/{conversation}/knowledge-bases"
        assert (await client.put(f"{url}/{kb['id']}", headers=me.headers)).json()["access"] == "read"
        await client.delete(f"{KBS}/{kb['id']}/grants/{grant['id']}", headers=owner.headers)
        assert (await client.get(url, headers=me.headers)).json() == []
