"""Groups as identity providers provision them: Parley groups with their members, changed the ways Entra ID
and Okta change them."""

from __future__ import annotations

from sqlalchemy import select

from parley.models import AuditEvent, GroupMember
from tests.scim.conftest import GROUP_SCHEMA, assert_scim_error


async def _members(session, group_id) -> set[str]:
    rows = await session.scalars(select(GroupMember.user_id).where(GroupMember.group_id == group_id))
    return {str(user_id) for user_id in rows}


class TestGroups:
    async def test_create_read_and_list(self, scim, client):
        ada = await scim.create_user("ada@acme.test", displayName="Ada")
        group = await scim.create_group("Research", [ada["id"]], externalId="grp-1")
        assert group["schemas"] == [GROUP_SCHEMA] and group["displayName"] == "Research"
        assert group["externalId"] == "grp-1"
        assert group["members"] == [{"value": ada["id"], "$ref": ada["meta"]["location"]}]
        assert (await scim.get(f"/Groups/{group['id']}")).json() == group
        # The group is a Parley group, which admins see with its member.
        admin_view = await client.get(f"/api/v1/admin/groups/{group['id']}", headers=scim.admin.headers)
        assert admin_view.json()["name"] == "Research" and admin_view.json()["member_count"] == 1

        listed = (await scim.get("/Groups", excludedAttributes="members")).json()
        assert listed["totalResults"] == 1 and "members" not in listed["Resources"][0]

    async def test_filters(self, scim):
        ada = await scim.create_user("ada@acme.test")
        research = await scim.create_group("Research", [ada["id"]], externalId="r-1")
        sales = await scim.create_group("Sales")

        async def ids(filter_: str) -> set[str]:
            response = await scim.get("/Groups", filter=filter_)
            assert response.status_code == 200, response.text
            return {resource["id"] for resource in response.json()["Resources"]}

        assert await ids('displayName eq "research"') == {research["id"]}
        assert await ids('externalId eq "r-1"') == {research["id"]}
        assert await ids(f'members.value eq "{ada["id"]}"') == {research["id"]}
        assert await ids(f'members[value eq "{ada["id"]}"]') == {research["id"]}
        assert await ids("members pr") == {research["id"]}
        assert await ids('displayName sw "Sa" or displayName eq "Research"') == {research["id"], sales["id"]}
        # A member id that is not an id matches nothing, it is not an error.
        assert await ids('members.value eq "not-an-id"') == set()

    async def test_put_replaces_name_and_members(self, scim, session):
        ada, grace = await scim.create_user("ada@acme.test"), await scim.create_user("grace@acme.test")
        group = await scim.create_group("Research", [ada["id"]])
        body = {"schemas": [GROUP_SCHEMA], "displayName": "R&D", "members": [{"value": grace["id"]}]}
        response = await scim.request("PUT", f"/Groups/{group['id']}", body)
        assert response.status_code == 200, response.text
        assert response.json()["displayName"] == "R&D"
        assert await _members(session, group["id"]) == {grace["id"]}

    async def test_delete(self, scim, session):
        group = await scim.create_group("Temporary")
        assert (await scim.request("DELETE", f"/Groups/{group['id']}")).status_code == 204
        assert_scim_error(await scim.get(f"/Groups/{group['id']}"), 404)
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "scim.group_delete"))
        assert event is not None and event.details["actor"] == "scim"

    async def test_a_deleted_user_leaves_their_groups(self, scim, session):
        ada = await scim.create_user("ada@acme.test")
        group = await scim.create_group("Research", [ada["id"]])
        await scim.request("DELETE", f"/Users/{ada['id']}")
        assert await _members(session, group["id"]) == set()
        assert (await scim.get(f"/Groups/{group['id']}")).json()["members"] == []


class TestMembershipPatch:
    async def test_entra_adds_and_removes_members_with_a_value_list(self, scim, session):
        ada, grace = await scim.create_user("ada@acme.test"), await scim.create_user("grace@acme.test")
        group = await scim.create_group("Research")
        add = await scim.patch(
            f"/Groups/{group['id']}",
            {"op": "Add", "path": "members", "value": [{"value": ada["id"]}, {"value": grace["id"]}]},
        )
        assert add.status_code == 200, add.text
        assert await _members(session, group["id"]) == {ada["id"], grace["id"]}
        remove = await scim.patch(
            f"/Groups/{group['id']}", {"op": "Remove", "path": "members", "value": [{"value": ada["id"]}]}
        )
        assert remove.status_code == 200, remove.text
        assert await _members(session, group["id"]) == {grace["id"]}
        rename = await scim.patch(f"/Groups/{group['id']}", {"op": "Replace", "path": "displayName", "value": "R&D"})
        assert rename.json()["displayName"] == "R&D"

    async def test_okta_removes_a_member_by_filter_and_renames_without_path(self, scim, session):
        ada, grace = await scim.create_user("ada@acme.test"), await scim.create_user("grace@acme.test")
        group = await scim.create_group("Research", [ada["id"], grace["id"]])
        response = await scim.patch(
            f"/Groups/{group['id']}",
            {"op": "remove", "path": f'members[value eq "{ada["id"]}"]'},
            {"op": "replace", "value": {"id": group["id"], "displayName": "Research Team"}},
        )
        assert response.status_code == 200, response.text
        assert response.json()["displayName"] == "Research Team"
        assert await _members(session, group["id"]) == {grace["id"]}

    async def test_replace_members_and_remove_all(self, scim, session):
        ada, grace = await scim.create_user("ada@acme.test"), await scim.create_user("grace@acme.test")
        group = await scim.create_group("Research", [ada["id"]])
        await scim.patch(
            f"/Groups/{group['id']}", {"op": "replace", "path": "members", "value": [{"value": grace["id"]}]}
        )
        assert await _members(session, group["id"]) == {grace["id"]}
        await scim.patch(f"/Groups/{group['id']}", {"op": "remove", "path": "members"})
        assert await _members(session, group["id"]) == set()

    async def test_an_unknown_member_changes_nothing(self, scim, session):
        ada = await scim.create_user("ada@acme.test")
        group = await scim.create_group("Research")
        response = await scim.patch(
            f"/Groups/{group['id']}",
            {"op": "replace", "path": "displayName", "value": "Renamed"},
            {"op": "add", "path": "members", "value": [{"value": ada["id"]}, {"value": "no-such-user"}]},
        )
        assert_scim_error(response, 400, "invalidValue")
        after = (await scim.get(f"/Groups/{group['id']}")).json()
        assert after["displayName"] == "Research" and after["members"] == []
