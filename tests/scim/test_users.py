"""Users as identity providers provision them: create, read, list with filters and pages, replace, delete."""

from __future__ import annotations

from sqlalchemy import select

from parley.models import AuditEvent, User
from tests.scim.conftest import USER_SCHEMA, assert_scim_error


class TestCreate:
    async def test_a_provisioned_user_is_a_parley_account_without_a_password(self, scim, client, session):
        created = await scim.create_user(
            "Ada.Lovelace@Example.com",
            externalId="00aa-entra-object-id",
            displayName="Ada Lovelace",
            name={"givenName": "Ada", "familyName": "Lovelace"},
            emails=[{"value": "ada@example.com", "type": "work", "primary": True}],
            title="Countess",
        )
        assert created["schemas"] == [USER_SCHEMA]
        assert created["userName"] == "ada.lovelace@example.com"
        assert created["displayName"] == "Ada Lovelace" and created["active"] is True
        assert created["externalId"] == "00aa-entra-object-id"
        assert created["meta"]["resourceType"] == "User"
        assert created["meta"]["location"].endswith(f"/scim/v2/Users/{created['id']}")

        user = await session.scalar(select(User).where(User.email == "ada.lovelace@example.com"))
        assert user is not None and user.hashed_password is None and user.full_name == "Ada Lovelace"
        # It cannot sign in with any password: it signs in through single sign-on.
        login = await client.post("/api/v1/auth/login", json={"email": user.email, "password": "x" * 16})
        assert login.status_code == 401

        fetched = await scim.get(f"/Users/{created['id']}")
        assert fetched.status_code == 200 and fetched.json() == created
        assert fetched.headers["content-type"].startswith("application/scim+json")

    async def test_the_name_comes_from_name_parts_when_no_display_name_is_sent(self, scim):
        created = await scim.create_user("grace@example.com", name={"givenName": "Grace", "familyName": "Hopper"})
        assert created["displayName"] == "Grace Hopper"

    async def test_a_user_created_inactive_is_suspended(self, scim, session):
        created = await scim.create_user("late@example.com", active=False)
        assert created["active"] is False
        user = await session.scalar(select(User).where(User.email == "late@example.com"))
        assert user is not None and user.is_active is False

    async def test_a_taken_user_name_is_a_uniqueness_conflict(self, scim):
        await scim.create_user("twice@example.com")
        again = await scim.request("POST", "/Users", {"schemas": [USER_SCHEMA], "userName": "TWICE@example.com"})
        assert_scim_error(again, 409, "uniqueness")

    async def test_every_change_is_audited_with_the_scim_client_as_actor(self, scim, session):
        created = await scim.create_user("audited@example.com")
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "scim.user_create"))
        assert event is not None and event.actor_id is None and event.details["actor"] == "scim"
        assert event.target_id == created["id"]


class TestList:
    async def test_filters_idps_use(self, scim):
        # The admin who made the token is a Parley user too: SCIM lists every account, IdPs match on them.
        ada = await scim.create_user("ada@acme.test", externalId="ext-ADA", displayName="Ada Lovelace")
        grace = await scim.create_user("grace@corp.example", externalId="ext-grace", displayName="Grace Hopper")
        await scim.patch(f"/Users/{grace['id']}", {"op": "replace", "path": "active", "value": False})

        async def ids(filter_: str) -> set[str]:
            response = await scim.get("/Users", filter=filter_)
            assert response.status_code == 200, response.text
            return {resource["id"] for resource in response.json()["Resources"]}

        assert await ids('userName eq "ADA@acme.test"') == {ada["id"]}  # userName ignores case
        assert await ids('externalId eq "ext-ADA"') == {ada["id"]}
        assert await ids('externalId eq "ext-ada"') == set()  # externalId is case-exact
        assert await ids('emails.value eq "grace@corp.example"') == {grace["id"]}
        assert await ids('emails[type eq "work" and value co "corp"]') == {grace["id"]}
        assert await ids('displayName co "lace"') == {ada["id"]}
        assert await ids('userName sw "gra"') == {grace["id"]}
        assert await ids("active eq false") == {grace["id"]}
        assert await ids('active eq true and userName ew "acme.test"') == {ada["id"]}
        assert await ids('userName eq "ada@acme.test" or externalId eq "ext-grace"') == {ada["id"], grace["id"]}
        assert await ids("externalId pr") == {ada["id"], grace["id"]}
        assert await ids('not (userName eq "ada@acme.test") and displayName pr') == {grace["id"]}
        assert await ids(f'userName eq "{scim.admin.email}"') == {str(scim.admin.id)}
        assert await ids('userName eq "nobody@example.com"') == set()
        # LIKE wildcards in a value are literal characters.
        assert await ids('userName co "%"') == set()

    async def test_pagination_with_start_index_and_count(self, scim):
        made = [(await scim.create_user(f"user{i}@acme.test"))["id"] for i in range(5)]
        acme = 'userName ew "@acme.test"'
        first = (await scim.get("/Users", filter=acme, startIndex=1, count=2)).json()
        second = (await scim.get("/Users", filter=acme, startIndex=3, count=2)).json()
        last = (await scim.get("/Users", filter=acme, startIndex=5, count=2)).json()
        assert first["totalResults"] == 5 and first["itemsPerPage"] == 2 and first["startIndex"] == 1
        assert second["startIndex"] == 3 and last["itemsPerPage"] == 1
        assert [r["id"] for r in first["Resources"] + second["Resources"] + last["Resources"]] == made
        count_only = (await scim.get("/Users", filter=acme, count=0)).json()
        assert count_only["totalResults"] == 5 and count_only["Resources"] == []
        # Out-of-range values are clamped as RFC 7644 says, not refused.
        assert (await scim.get("/Users", startIndex=0, count=1)).json()["startIndex"] == 1

    async def test_attributes_and_excluded_attributes(self, scim):
        await scim.create_user("ada@acme.test", displayName="Ada")
        only = (await scim.get("/Users", filter='userName eq "ada@acme.test"', attributes="userName")).json()
        only = only["Resources"][0]
        assert set(only) == {"id", "schemas", "userName"}
        without = await scim.get("/Users", filter='userName eq "ada@acme.test"', excludedAttributes="emails,meta")
        resource = without.json()["Resources"][0]
        assert "emails" not in resource and "meta" not in resource and resource["userName"] == "ada@acme.test"


class TestReplace:
    async def test_put_replaces_what_parley_keeps(self, scim, session):
        created = await scim.create_user("old@example.com", displayName="Old", externalId="e1")
        body = {"schemas": [USER_SCHEMA], "userName": "new@example.com", "displayName": "New Name", "active": True}
        response = await scim.request("PUT", f"/Users/{created['id']}", body)
        assert response.status_code == 200, response.text
        replaced = response.json()
        assert replaced["userName"] == "new@example.com" and replaced["displayName"] == "New Name"
        assert "externalId" not in replaced
        user = await session.get(User, created["id"])
        assert user is not None and user.email == "new@example.com" and user.external_id is None


class TestDelete:
    async def test_delete_removes_access_and_the_user_is_gone_from_scim(self, scim, client, session):
        created = await scim.create_user("leaver@example.com")
        assert (await scim.request("DELETE", f"/Users/{created['id']}")).status_code == 204
        assert_scim_error(await scim.get(f"/Users/{created['id']}"), 404)
        assert (await scim.get("/Users", filter='userName eq "leaver@example.com"')).json()["totalResults"] == 0
        assert_scim_error(await scim.request("DELETE", f"/Users/{created['id']}"), 404)
        user = await session.get(User, created["id"])
        assert user is not None and user.is_active is False and user.deprovisioned_at is not None

    async def test_a_deleted_user_provisioned_again_gets_the_account_back(self, scim):
        created = await scim.create_user("back@example.com")
        await scim.request("DELETE", f"/Users/{created['id']}")
        again = await scim.create_user("back@example.com", externalId="new-ext")
        assert again["id"] == created["id"] and again["active"] is True and again["externalId"] == "new-ext"


class TestSearch:
    async def test_post_search_takes_the_query_in_its_body(self, scim):
        ada = await scim.create_user("ada@acme.test", displayName="Ada")
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'userName sw "ada"',
            "attributes": ["userName"],
            "startIndex": 1,
            "count": 10,
        }
        found = (await scim.request("POST", "/Users/.search", body)).json()
        assert found["totalResults"] == 1 and found["Resources"] == [
            {"schemas": [USER_SCHEMA], "id": ada["id"], "userName": "ada@acme.test"}
        ]
        # Across resource types at once is not offered: a 501 the client can act on.
        assert_scim_error(await scim.request("POST", "/.search", {"filter": "id pr"}), 501)
        assert_scim_error(await scim.request("POST", "/Users/.search", {"filter": 3}), 400, "invalidFilter")
