"""Admins' overrides of plan limits: per user (only the limits given; an explicit value wins) and per group (limits
given to the members, a shared monthly budget). Stored as given, shown where admins read users and groups, cleared
back to the plan, every change audited; bad values refused before anything is stored."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from parley.auth.permissions import Role
from parley.models import AuditEvent, Group, User
from tests.factories import assert_problem, create_user, signed_in_user

ADMIN_USERS = "/api/v1/admin/users"
ADMIN_GROUPS = "/api/v1/admin/groups"


async def _audit(session, action: str) -> list[AuditEvent]:
    return list(
        await session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.created_at))
    )


async def _listed_user(client, admin, email: str) -> dict:
    page = (await client.get(ADMIN_USERS, params={"q": email}, headers=admin.headers)).json()
    [user] = page["items"]
    return user


async def _new_group(client, admin) -> str:
    response = await client.post(ADMIN_GROUPS, json={"name": f"dept {uuid.uuid4().hex[:8]}"}, headers=admin.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


class TestUserOverrides:
    async def test_put_stores_only_the_limits_given_and_admins_read_them_back(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        member = await signed_in_user(app, client)
        body = {"tokens_per_day": 1_000_000, "requests_per_minute": None, "models": ["echo", "cheap"]}

        response = await client.put(f"{ADMIN_USERS}/{member.id}/limits", json=body, headers=admin.headers)

        assert response.status_code == 200, response.text
        # Null (unlimited) is kept as an override; the limits not given are not (the plan decides them).
        assert response.json() == body
        assert (await _listed_user(client, admin, member.email))["limits"] == body
        account = await session.get(User, member.id)
        assert account is not None and account.limits == body

    async def test_a_second_put_replaces_the_first_and_each_is_audited_with_before_and_after(
        self, app, client, session
    ):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        member = await create_user(app)
        await client.put(f"{ADMIN_USERS}/{member}/limits", json={"tokens_per_day": 10}, headers=admin.headers)
        response = await client.put(
            f"{ADMIN_USERS}/{member}/limits", json={"usd_budget_per_month": 2.5}, headers=admin.headers
        )

        assert response.json() == {"usd_budget_per_month": 2.5}
        events = await _audit(session, "admin.user_limits_put")
        assert [(e.actor_id, e.target_type, e.target_id) for e in events] == [(admin.id, "user", str(member))] * 2
        assert events[0].details == {"from": None, "to": {"tokens_per_day": 10}}
        assert events[1].details == {"from": {"tokens_per_day": 10}, "to": {"usd_budget_per_month": 2.5}}

    async def test_delete_returns_the_user_to_their_plan_and_is_audited(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        member = await signed_in_user(app, client)
        await client.put(f"{ADMIN_USERS}/{member.id}/limits", json={"tokens_per_day": 10}, headers=admin.headers)

        response = await client.delete(f"{ADMIN_USERS}/{member.id}/limits", headers=admin.headers)

        assert response.status_code == 204, response.text
        assert (await _listed_user(client, admin, member.email))["limits"] is None
        # SQL NULL, not JSON null: "has no overrides" is `limits IS NULL` for whoever queries the table.
        assert await session.scalar(select(User.id).where(User.id == member.id, User.limits.is_(None))) == member.id
        [event] = await _audit(session, "admin.user_limits_delete")
        assert event.details == {"from": {"tokens_per_day": 10}, "to": None}
        # Clearing again is fine and changes nothing.
        assert (await client.delete(f"{ADMIN_USERS}/{member.id}/limits", headers=admin.headers)).status_code == 204
        assert len(await _audit(session, "admin.user_limits_delete")) == 1

    async def test_unknown_keys_negative_numbers_and_models_outside_the_catalogue_are_422(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        member = await create_user(app)
        for body in (
            {"tokens_per_dya": 5},
            {"shared_usd_budget_per_month": 5},  # a group's limit, not a user's
            {"tokens_per_month": -1},
            {"usd_budget_per_month": -0.5},
            {"models": ["echo", "gpt-9"]},
            {"requests_per_minute": "many"},
        ):
            problem = assert_problem(
                await client.put(f"{ADMIN_USERS}/{member}/limits", json=body, headers=admin.headers), 422
            )
            if "models" in body:
                assert "gpt-9" in problem["detail"]
        account = await session.get(User, member)
        assert account is not None and account.limits is None
        assert await _audit(session, "admin.user_limits_put") == []

    async def test_an_unknown_user_is_404(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        nobody = uuid.uuid4()
        assert_problem(
            await client.put(f"{ADMIN_USERS}/{nobody}/limits", json={"tokens_per_day": 1}, headers=admin.headers), 404
        )
        assert_problem(await client.delete(f"{ADMIN_USERS}/{nobody}/limits", headers=admin.headers), 404)

    async def test_users_may_not_set_or_clear_overrides_not_even_their_own(self, app, client, session):
        user = await signed_in_user(app, client)
        assert_problem(
            await client.put(f"{ADMIN_USERS}/{user.id}/limits", json={"tokens_per_day": None}, headers=user.headers),
            403,
        )
        assert_problem(await client.delete(f"{ADMIN_USERS}/{user.id}/limits", headers=user.headers), 403)
        account = await session.get(User, user.id)
        assert account is not None and account.limits is None


class TestGroupLimits:
    async def test_put_stores_the_limits_and_shared_budget_and_the_group_shows_them(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        group_id = await _new_group(client, admin)
        body = {"shared_usd_budget_per_month": 1500.0, "tokens_per_day": 5_000_000}

        response = await client.put(f"{ADMIN_GROUPS}/{group_id}/limits", json=body, headers=admin.headers)

        assert response.status_code == 200, response.text
        assert response.json() == body
        assert (await client.get(f"{ADMIN_GROUPS}/{group_id}", headers=admin.headers)).json()["limits"] == body
        listed = (await client.get(ADMIN_GROUPS, headers=admin.headers)).json()["items"]
        assert [g["limits"] for g in listed if g["id"] == group_id] == [body]
        [event] = await _audit(session, "group.limits_put")
        assert (event.actor_id, event.target_type, event.target_id) == (admin.id, "group", group_id)
        assert event.details == {"from": None, "to": body}

    async def test_delete_clears_them_and_is_audited(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        group_id = await _new_group(client, admin)
        await client.put(f"{ADMIN_GROUPS}/{group_id}/limits", json={"models": ["echo"]}, headers=admin.headers)

        response = await client.delete(f"{ADMIN_GROUPS}/{group_id}/limits", headers=admin.headers)

        assert response.status_code == 204, response.text
        assert (await client.get(f"{ADMIN_GROUPS}/{group_id}", headers=admin.headers)).json()["limits"] is None
        group_uuid = uuid.UUID(group_id)
        assert (
            await session.scalar(select(Group.id).where(Group.id == group_uuid, Group.limits.is_(None))) == group_uuid
        )
        [event] = await _audit(session, "group.limits_delete")
        assert event.details == {"from": {"models": ["echo"]}, "to": None}

    async def test_bad_values_are_422_and_unknown_groups_404(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        group_id = await _new_group(client, admin)
        for body in (
            {"shared_budget": 5},
            {"shared_usd_budget_per_month": -1},
            {"concurrent_answers": -3},
            {"models": ["not-a-model"]},
        ):
            assert_problem(await client.put(f"{ADMIN_GROUPS}/{group_id}/limits", json=body, headers=admin.headers), 422)
        assert await _audit(session, "group.limits_put") == []
        nobody = uuid.uuid4()
        assert_problem(
            await client.put(f"{ADMIN_GROUPS}/{nobody}/limits", json={"tokens_per_day": 1}, headers=admin.headers), 404
        )
        assert_problem(await client.delete(f"{ADMIN_GROUPS}/{nobody}/limits", headers=admin.headers), 404)

    async def test_users_may_not_set_or_clear_group_limits(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        user = await signed_in_user(app, client)
        group_id = await _new_group(client, admin)
        assert_problem(
            await client.put(f"{ADMIN_GROUPS}/{group_id}/limits", json={"tokens_per_day": 1}, headers=user.headers),
            403,
        )
        assert_problem(await client.delete(f"{ADMIN_GROUPS}/{group_id}/limits", headers=user.headers), 403)
        assert (await client.get(f"{ADMIN_GROUPS}/{group_id}", headers=admin.headers)).json()["limits"] is None
