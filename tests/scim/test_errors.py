"""Bad input and wrong credentials: a clear 4xx in SCIM's error shape, and nothing half-created."""

from __future__ import annotations

from sqlalchemy import func, select

from parley.auth.permissions import Role
from parley.models import AuditEvent, Group, User
from tests.factories import signed_in_user
from tests.scim.conftest import BASE, GROUP_SCHEMA, USER_SCHEMA, assert_scim_error


class TestCredentials:
    async def test_no_token_or_a_wrong_one_is_refused(self, scim, client):
        assert_scim_error(await client.get(f"{BASE}/Users"), 401)
        wrong = await client.get(f"{BASE}/Users", headers={"Authorization": "Bearer scim-not-the-token"})
        body = assert_scim_error(wrong, 401)
        assert "SCIM token" in body["detail"] and wrong.headers["www-authenticate"].startswith("Bearer")

    async def test_user_credentials_never_work_even_an_admins(self, scim, client):
        admin = scim.admin
        assert_scim_error(await client.get(f"{BASE}/Users", headers=admin.headers), 401)
        key = await client.post("/api/v1/users/me/api-keys", json={"name": "k"}, headers=admin.headers)
        assert_scim_error(
            await client.get(f"{BASE}/Users", headers={"Authorization": f"Bearer {key.json()['key']}"}), 401
        )

    async def test_with_no_token_configured_scim_is_off(self, client):
        assert_scim_error(await client.get(f"{BASE}/Users", headers={"Authorization": "Bearer anything-at-all"}), 401)

    async def test_rotation_invalidates_the_old_token(self, scim, client):
        old = scim.token
        rotated = await client.post("/api/v1/admin/scim/token", headers=scim.admin.headers)
        new = rotated.json()["token"]
        assert new != old
        assert_scim_error(await client.get(f"{BASE}/Users", headers={"Authorization": f"Bearer {old}"}), 401)
        assert (await client.get(f"{BASE}/Users", headers={"Authorization": f"Bearer {new}"})).status_code == 200


class TestBadBodies:
    async def test_an_unknown_attribute_creates_nothing(self, scim, session):
        body = {"schemas": [USER_SCHEMA], "userName": "ada@acme.test", "favouriteColour": "green"}
        error = assert_scim_error(await scim.request("POST", "/Users", body), 400, "invalidSyntax")
        assert "favouriteColour" in error["detail"]
        assert await session.scalar(select(func.count()).select_from(User).where(User.email == "ada@acme.test")) == 0
        # The refusal is in the audit trail (an IdP's mapping error shows up there first).
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "scim.request_refused"))
        assert event is not None and event.details["actor"] == "scim" and event.details["method"] == "POST"
        assert event.target_id == "/Users" and "favouriteColour" in event.details["detail"]

    async def test_missing_or_wrongly_typed_values(self, scim):
        assert_scim_error(await scim.request("POST", "/Users", {"schemas": [USER_SCHEMA]}), 400, "invalidValue")
        typed = {"schemas": [USER_SCHEMA], "userName": "ada@acme.test", "active": "maybe"}
        assert_scim_error(await scim.request("POST", "/Users", typed), 400, "invalidValue")
        assert_scim_error(await scim.request("POST", "/Users", ["not", "an", "object"]), 400, "invalidSyntax")
        unknown_schema = {"schemas": ["urn:example:Nope"], "userName": "ada@acme.test"}
        assert_scim_error(await scim.request("POST", "/Users", unknown_schema), 400, "invalidSyntax")

    async def test_a_body_that_is_not_json(self, scim, client):
        response = await client.post(f"{BASE}/Users", content=b"{not json", headers=scim.headers)
        assert_scim_error(response, 400, "invalidSyntax")

    async def test_a_group_with_an_unknown_member_is_not_created(self, scim, session):
        body = {"schemas": [GROUP_SCHEMA], "displayName": "Ghosts", "members": [{"value": "nobody"}]}
        assert_scim_error(await scim.request("POST", "/Groups", body), 400, "invalidValue")
        assert await session.scalar(select(func.count()).select_from(Group)) == 0

    async def test_a_taken_group_name(self, scim):
        await scim.create_group("Research")
        again = await scim.request("POST", "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "research"})
        assert_scim_error(again, 409, "uniqueness")


class TestBadFilters:
    async def test_malformed_and_unsupported_filters(self, scim):
        for bad in ("userName eq", 'userName zz "a"', "((", 'favouriteColour eq "green"', 'active eq "yes"'):
            response = await scim.get("/Users", filter=bad)
            assert_scim_error(response, 400, "invalidFilter")
        assert_scim_error(await scim.get("/Groups", filter='members co "x"'), 400, "invalidFilter")
        assert_scim_error(await scim.get("/Users", count="many"), 400, "invalidValue")


class TestBadPatches:
    async def test_a_patch_that_fails_part_way_changes_nothing(self, scim):
        user = await scim.create_user("ada@acme.test", displayName="Ada")
        response = await scim.patch(
            f"/Users/{user['id']}",
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "replace", "path": "favouriteColour", "value": "green"},
        )
        assert_scim_error(response, 400, "invalidPath")
        assert (await scim.get(f"/Users/{user['id']}")).json()["displayName"] == "Ada"

    async def test_bad_operations(self, scim):
        user = await scim.create_user("ada@acme.test")
        path = f"/Users/{user['id']}"
        assert_scim_error(await scim.patch(path, {"op": "frobnicate", "path": "active", "value": True}), 400)
        assert_scim_error(await scim.patch(path, {"op": "remove", "path": "userName"}), 400, "mutability")
        assert_scim_error(await scim.patch(path, {"op": "remove"}), 400, "noTarget")
        assert_scim_error(await scim.patch(path, {"op": "replace", "path": "active", "value": "maybe"}), 400)
        assert_scim_error(await scim.patch(path, {"op": "replace", "path": "emails[type eq"}), 400, "invalidPath")
        empty = await scim.request("PATCH", path, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]})
        assert_scim_error(empty, 400, "invalidSyntax")

    async def test_suspending_the_last_admin_is_refused(self, scim, app, client):
        # The token's admin is the only active admin here.
        response = await scim.patch(f"/Users/{scim.admin.id}", {"op": "replace", "path": "active", "value": False})
        assert_scim_error(response, 409)
        other = await signed_in_user(app, client, role=Role.ADMIN)
        assert (
            await scim.patch(f"/Users/{other.id}", {"op": "replace", "value": {"active": False}})
        ).status_code == 200


class TestUnknownThings:
    async def test_unknown_ids_and_routes_are_scim_404s(self, scim):
        assert_scim_error(await scim.get("/Users/3fa85f64-5717-4562-b3fc-2c963f66afa6"), 404)
        assert_scim_error(await scim.get("/Users/not-a-uuid"), 404)
        assert_scim_error(await scim.get("/Groups/not-a-uuid"), 404)
        assert_scim_error(await scim.get("/Elephants"), 404)
        assert_scim_error(await scim.request("PATCH", "/Users"), 405)
