"""OpenID Connect sign-in against a real OpenID Provider (tests/identity/op), driven over HTTP through its own
login and consent forms: accounts created just in time, linked by verified email only, domain allow-lists,
roles and groups from the provider's claim, suspended accounts."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import select, update

from parley.auth.permissions import Role
from parley.models import ExternalIdentity, Group, GroupMember, User
from tests.factories import PASSWORD, create_user
from tests.identity.conftest import OidcParley
from tests.identity.helpers import (
    assert_refused,
    assert_signed_in,
    audit_events,
    database,
    me,
    password_token,
    sign_in_through,
    unique,
    user_by_email,
)
from tests.identity.op import authorize


class TestJustInTimeAccounts:
    async def test_a_new_user_signs_in_and_gets_an_account_and_a_working_session(self, oidc: OidcParley) -> None:
        login = unique("alice")
        oidc.op.add_user(login, email=f"{login}@example.test", email_verified=True, name="Alice Example")
        async with oidc.browser() as http:
            # This provider keeps the ID token to `sub` in the code flow: the email and name come from userinfo.
            done = await sign_in_through(oidc, http, "test", login)
            assert_signed_in(done)
            profile = await me(oidc, http)
        assert profile["email"] == f"{login}@example.test"
        assert profile["full_name"] == "Alice Example"
        assert profile["role"] == "user"
        created = await audit_events(oidc, "auth.sso_user_create")
        assert [event.target_id for event in created] == [profile["id"]]
        logins = await audit_events(oidc, "auth.login")
        assert logins[-1].details["method"] == "oidc" and logins[-1].details["provider"] == "test"

    async def test_the_next_sign_in_reaches_the_same_account_even_after_the_email_changed(
        self, oidc: OidcParley
    ) -> None:
        login = unique("carol")
        oidc.op.add_user(login, email=f"{login}@example.test", email_verified=True)
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "test", login))
            first = await me(oidc, http)
        # The provider's subject, not the email, recognises the user.
        oidc.op.add_user(login, email=f"{login}-renamed@example.test", email_verified=True)
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "test", login))
            second = await me(oidc, http)
        assert second["id"] == first["id"]

    async def test_a_password_account_created_this_way_has_no_password_to_guess(self, oidc: OidcParley) -> None:
        login = unique("dave")
        oidc.op.add_user(login, email=f"{login}@example.test", email_verified=True)
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "test", login))
            attempt = await http.post(
                f"{oidc.url}/api/v1/auth/login", json={"email": f"{login}@example.test", "password": ""}
            )
        assert attempt.status_code in (401, 422)


class TestLinkingByEmail:
    async def test_a_verified_email_signs_in_to_the_existing_account(self, oidc: OidcParley) -> None:
        email = f"{unique('erin')}@example.test"
        existing = await create_user(oidc.app, email=email)
        login = unique("erin-idp")
        oidc.op.add_user(login, email=email, email_verified=True)
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "test", login))
            profile = await me(oidc, http)
        assert profile["id"] == str(existing)
        assert [event.target_id for event in await audit_events(oidc, "auth.sso_link")] == [str(existing)]

    async def test_an_unverified_email_is_not_linked_to_the_existing_account(self, oidc: OidcParley) -> None:
        email = f"{unique('frank')}@example.test"
        existing = await create_user(oidc.app, email=email)
        login = unique("mallory")
        oidc.op.add_user(login, email=email, email_verified=False)
        async with oidc.browser() as http:
            assert_refused(await sign_in_through(oidc, http, "test", login), "email_not_verified")
        async with database(oidc).session() as session:
            links = list(await session.scalars(select(ExternalIdentity).where(ExternalIdentity.user_id == existing)))
        assert links == []
        failures = await audit_events(oidc, "auth.sso_login_failed")
        assert [event.details["code"] for event in failures] == ["email_not_verified"]

    async def test_an_unverified_email_gets_no_new_account_either(self, oidc: OidcParley) -> None:
        # Otherwise the account would wait for whoever later proves the address, and be theirs with its history.
        login = unique("squatter")
        oidc.op.add_user(login, email=f"{login}@example.test", email_verified=False)
        async with oidc.browser() as http:
            assert_refused(await sign_in_through(oidc, http, "test", login), "email_not_verified")
        assert await user_by_email(oidc, f"{login}@example.test") is None


class TestDomainAllowList:
    async def test_an_address_outside_the_allowed_domains_is_refused(self, oidc: OidcParley) -> None:
        login = unique("outsider")
        oidc.op.add_user(login, email=f"{login}@example.test", email_verified=True)
        async with oidc.browser() as http:
            assert_refused(await sign_in_through(oidc, http, "corp", login), "domain_not_allowed")
        assert await user_by_email(oidc, f"{login}@example.test") is None
        failures = await audit_events(oidc, "auth.sso_login_failed")
        assert failures[0].details == {
            "kind": "oidc",
            "provider": "corp",
            "code": "domain_not_allowed",
            "reason": "Accounts of example.test may not sign in here.",
        }

    async def test_an_address_of_an_allowed_domain_signs_in(self, oidc: OidcParley) -> None:
        login = unique("insider")
        oidc.op.add_user(login, email=f"{login}@Corp.Test", email_verified=True)
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "corp", login))
            assert (await me(oidc, http))["email"] == f"{login}@corp.test"


class TestRoleFromGroups:
    async def test_a_member_of_the_admin_group_is_an_admin_and_stops_being_one_when_removed(
        self, oidc: OidcParley
    ) -> None:
        login = unique("grace")
        oidc.op.add_user(login, email=f"{login}@example.test", email_verified=True, groups=["parley-admins"])
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "test", login))
            token_role = (await me(oidc, http))["role"]
        assert token_role == "admin"
        oidc.op.add_user(login, email=f"{login}@example.test", email_verified=True, groups=[])
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "test", login))
            assert (await me(oidc, http))["role"] == "user"
        changes = await audit_events(oidc, "auth.sso_role_change")
        assert [(event.details["from"], event.details["to"]) for event in changes] == [
            ("user", "admin"),
            ("admin", "user"),
        ]


# A custom role replaces `user`: one whose holders should still use Parley carries the everyday permissions too.
EVERYDAY = ["profile:read", "profile:write", "conversations:read", "conversations:write", "chat", "files:read"]


class TestCustomRoleFromGroups:
    async def test_a_group_named_in_role_groups_gives_its_custom_role_and_admin_groups_come_first(
        self, oidc: OidcParley
    ) -> None:
        admin = await password_token(oidc, Role.ADMIN)
        async with httpx.AsyncClient(base_url=oidc.url, headers={"Authorization": f"Bearer {admin}"}) as http:
            made = await http.post(
                "/api/v1/admin/roles",
                json={
                    "name": "auditor",
                    "description": "Reads the audit log",
                    "permissions": [*EVERYDAY, "admin:audit"],
                },
            )
        assert made.status_code == 201, made.text
        login = unique("ivan")
        oidc.op.add_user(login, email=f"{login}@example.test", email_verified=True, groups=["Auditors"])
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "test", login))
            profile = await me(oidc, http)
        assert profile["role"] == "auditor" and "admin:audit" in profile["permissions"]
        assert "admin:users" not in profile["permissions"]

        oidc.op.add_user(
            login, email=f"{login}@example.test", email_verified=True, groups=["Auditors", "parley-admins"]
        )
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "test", login))
            assert (await me(oidc, http))["role"] == "admin"

    async def test_a_role_nobody_created_gives_the_least_role_and_says_why(self, oidc: OidcParley) -> None:
        login = unique("judy")
        oidc.op.add_user(login, email=f"{login}@example.test", email_verified=True, groups=["Ghosts"])
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "test", login))
            assert (await me(oidc, http))["role"] == "user"
        changes = await audit_events(oidc, "auth.sso_role_change")
        assert changes[-1].details["unknown_role"] == "nobody-made-this" and changes[-1].details["to"] == "user"


class TestGroupSync:
    async def test_groups_follow_the_claim_and_administrators_groups_are_left_alone(self, oidc: OidcParley) -> None:
        login = unique("heidi")
        email = f"{login}@example.test"
        oidc.op.add_user(login, email=email, email_verified=True, groups=["Finance", "Sales"])
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "test", login))
        user = await user_by_email(oidc, email)
        assert user is not None
        # An administrator's own group, with the user in it.
        manual = uuid.uuid4()
        async with database(oidc).session() as session:
            session.add(Group(id=manual, name=unique("Project"), description=""))
            await session.flush()
            session.add(GroupMember(group_id=manual, user_id=user.id))
        assert await _groups_of(oidc, user.id) == {"Finance", "Sales", *await _names(oidc, {manual})}

        oidc.op.add_user(login, email=email, email_verified=True, groups=["Finance", "Legal"])
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "test", login))
        assert await _groups_of(oidc, user.id) == {"Finance", "Legal", *await _names(oidc, {manual})}
        # Sales still exists (others may be in it); only this user's membership followed the claim.
        async with database(oidc).session() as session:
            assert await session.scalar(select(Group.id).where(Group.name == "Sales")) is not None


async def _groups_of(oidc: OidcParley, user_id: uuid.UUID) -> set[str]:
    async with database(oidc).session() as session:
        rows = await session.scalars(
            select(Group.name).join(GroupMember, GroupMember.group_id == Group.id).where(GroupMember.user_id == user_id)
        )
        return set(rows)


async def _names(oidc: OidcParley, group_ids: set[uuid.UUID]) -> set[str]:
    async with database(oidc).session() as session:
        return set(await session.scalars(select(Group.name).where(Group.id.in_(group_ids))))


class TestSuspendedAccounts:
    async def test_a_suspended_account_cannot_sign_in_through_the_provider(self, oidc: OidcParley) -> None:
        login = unique("ivan")
        email = f"{login}@example.test"
        oidc.op.add_user(login, email=email, email_verified=True)
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "test", login))
        async with database(oidc).session() as session:
            await session.execute(update(User).where(User.email == email).values(is_active=False))
        async with oidc.browser() as http:
            assert_refused(await sign_in_through(oidc, http, "test", login), "account_suspended")
        failures = await audit_events(oidc, "auth.sso_login_failed")
        assert [event.details["code"] for event in failures] == ["account_suspended"]

    async def test_a_suspended_password_account_is_not_reached_by_linking_either(self, oidc: OidcParley) -> None:
        email = f"{unique('judy')}@example.test"
        existing = await create_user(oidc.app, email=email, password=PASSWORD)
        async with database(oidc).session() as session:
            await session.execute(update(User).where(User.id == existing).values(is_active=False))
        login = unique("judy-idp")
        oidc.op.add_user(login, email=email, email_verified=True)
        async with oidc.browser() as http:
            assert_refused(await sign_in_through(oidc, http, "test", login), "account_suspended")
        async with database(oidc).session() as session:
            assert await session.scalar(select(ExternalIdentity).where(ExternalIdentity.user_id == existing)) is None


class TestAtTheSameTime:
    async def test_one_persons_first_sign_in_in_two_windows_makes_one_account_and_never_fails_badly(
        self, oidc: OidcParley
    ) -> None:
        login = unique("twice")
        email = f"{login}@example.test"
        oidc.op.add_user(login, email=email, email_verified=True)
        async with oidc.browser() as first, oidc.browser() as second:
            callbacks = [
                await authorize(first, oidc.url, "test", login),
                await authorize(second, oidc.url, "test", login),
            ]
            answers = await asyncio.gather(first.get(callbacks[0]), second.get(callbacks[1]))
        locations = sorted(answer.headers["location"] for answer in answers)
        assert locations[0] == "/chat"
        assert locations[1] in ("/chat", "/signin?sso_error=sign_in_race")
        async with database(oidc).session() as session:
            users = list(await session.scalars(select(User.id).where(User.email == email)))
            links = list(await session.scalars(select(ExternalIdentity.id).where(ExternalIdentity.user_id.in_(users))))
        assert len(users) == 1 and len(links) == 1

    async def test_two_people_bringing_the_same_new_group_at_once_share_one_group(self, oidc: OidcParley) -> None:
        group = unique("Launch")
        logins = [unique("p1"), unique("p2")]
        for login in logins:
            oidc.op.add_user(login, email=f"{login}@example.test", email_verified=True, groups=[group])
        async with oidc.browser() as first, oidc.browser() as second:
            callbacks = [
                await authorize(first, oidc.url, "test", logins[0]),
                await authorize(second, oidc.url, "test", logins[1]),
            ]
            answers = await asyncio.gather(first.get(callbacks[0]), second.get(callbacks[1]))
        for answer in answers:
            assert_signed_in(answer)
        async with database(oidc).session() as session:
            groups = list(await session.scalars(select(Group.id).where(Group.name == group)))
            members = list(await session.scalars(select(GroupMember.user_id).where(GroupMember.group_id.in_(groups))))
        assert len(groups) == 1 and len(members) == 2
