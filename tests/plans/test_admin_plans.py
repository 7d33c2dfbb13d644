"""Plans as administrators keep them: listed with their limits, created or replaced, deleted when nobody is on
them; every change audited; users can only be put on a plan that exists."""

from __future__ import annotations

from sqlalchemy import select

from parley.auth.permissions import Role
from parley.models import AuditEvent, User
from tests.factories import assert_problem, create_user, signed_in_user

PLANS = "/api/v1/admin/plans"
ADMIN_USERS = "/api/v1/admin/users"


class TestListing:
    async def test_the_built_in_plans_are_listed_with_their_limits(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        response = await client.get(PLANS, headers=admin.headers)
        assert response.status_code == 200, response.text
        plans = {plan["name"]: plan["limits"] for plan in response.json()}
        assert list(plans) == ["enterprise", "free", "pro"]
        assert plans["free"]["requests_per_minute"] == 20 and plans["free"]["tokens_per_day"] == 200_000
        assert plans["enterprise"]["models"] is None and plans["enterprise"]["tokens_per_day"] is None

    async def test_users_may_not_see_or_change_plans(self, app, client):
        user = await signed_in_user(app, client)
        assert_problem(await client.get(PLANS, headers=user.headers), 403)
        assert_problem(await client.put(f"{PLANS}/free", json={}, headers=user.headers), 403)
        assert_problem(await client.delete(f"{PLANS}/pro", headers=user.headers), 403)


class TestPut:
    async def test_create_then_replace_each_audited_with_before_and_after(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        created = await client.put(
            f"{PLANS}/team", json={"requests_per_minute": 100, "models": ["echo"]}, headers=admin.headers
        )
        assert created.status_code == 201, created.text
        assert created.json()["name"] == "team" and created.json()["limits"]["models"] == ["echo"]

        replaced = await client.put(f"{PLANS}/team", json={"tokens_per_day": 5000}, headers=admin.headers)
        assert replaced.status_code == 200, replaced.text
        # Replaced, not merged: what the body leaves out is unlimited.
        listed = {p["name"]: p["limits"] for p in (await client.get(PLANS, headers=admin.headers)).json()}
        assert listed["team"]["tokens_per_day"] == 5000 and listed["team"]["requests_per_minute"] is None
        assert listed["team"]["models"] is None

        events = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "plan.put").order_by(AuditEvent.created_at)
            )
        ).all()
        assert [(e.actor_id, e.target_type, e.target_id) for e in events] == [(admin.id, "plan", "team")] * 2
        assert events[0].details["from"] is None and events[0].details["to"]["requests_per_minute"] == 100
        assert events[1].details["from"]["requests_per_minute"] == 100
        assert events[1].details["to"]["tokens_per_day"] == 5000

    async def test_editing_a_built_in_plan_changes_it(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        response = await client.put(f"{PLANS}/free", json={"requests_per_minute": 3}, headers=admin.headers)
        assert response.status_code == 200, response.text
        listed = {p["name"]: p["limits"] for p in (await client.get(PLANS, headers=admin.headers)).json()}
        assert listed["free"]["requests_per_minute"] == 3 and listed["free"]["tokens_per_day"] is None

    async def test_unknown_limits_negative_numbers_and_bad_names_are_422(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        for name, body in (
            ("team", {"requests_per_minit": 5}),
            ("team", {"tokens_per_month": -1}),
            ("team", {"usd_budget_per_month": -2.5}),
            ("Team Plan", {}),
            ("x" * 33, {}),
            ("team", {"models": ["echo", "gtp-4o"]}),  # not in the catalogue: a typo that would never match
        ):
            assert_problem(await client.put(f"{PLANS}/{name}", json=body, headers=admin.headers), 422)
        assert (await session.scalars(select(AuditEvent).where(AuditEvent.action == "plan.put"))).all() == []


class TestDelete:
    async def test_a_plan_nobody_is_on_is_deleted_and_audited(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        await client.put(f"{PLANS}/team", json={"tokens_per_day": 10}, headers=admin.headers)

        response = await client.delete(f"{PLANS}/team", headers=admin.headers)
        assert response.status_code == 204, response.text
        names = [p["name"] for p in (await client.get(PLANS, headers=admin.headers)).json()]
        assert "team" not in names
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "plan.delete"))
        assert event is not None and event.target_id == "team" and event.details["limits"]["tokens_per_day"] == 10
        assert_problem(await client.delete(f"{PLANS}/team", headers=admin.headers), 404)

    async def test_a_plan_users_are_on_is_409_until_they_are_moved(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        await client.put(f"{PLANS}/team", json={}, headers=admin.headers)
        member = await create_user(app)
        moved = await client.patch(f"{ADMIN_USERS}/{member}", json={"subscription_tier": "team"}, headers=admin.headers)
        assert moved.status_code == 200 and moved.json()["subscription_tier"] == "team"

        problem = assert_problem(await client.delete(f"{PLANS}/team", headers=admin.headers), 409)
        assert "1 user" in problem["detail"]

        await client.patch(f"{ADMIN_USERS}/{member}", json={"subscription_tier": "pro"}, headers=admin.headers)
        assert (await client.delete(f"{PLANS}/team", headers=admin.headers)).status_code == 204

    async def test_free_cannot_be_deleted(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        await client.put(f"{PLANS}/free", json={"tokens_per_day": 1}, headers=admin.headers)
        problem = assert_problem(await client.delete(f"{PLANS}/free", headers=admin.headers), 409)
        assert "free" in problem["detail"]
        assert await session.scalar(select(AuditEvent).where(AuditEvent.action == "plan.delete")) is None

    async def test_deleting_a_built_in_plan_returns_it_to_its_built_in_limits(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        await client.put(f"{PLANS}/pro", json={"max_upload_mib": 1}, headers=admin.headers)
        assert (await client.delete(f"{PLANS}/pro", headers=admin.headers)).status_code == 204
        listed = {p["name"]: p["limits"] for p in (await client.get(PLANS, headers=admin.headers)).json()}
        assert listed["pro"]["max_upload_mib"] == 50


class TestUsersTier:
    async def test_a_user_can_only_be_put_on_an_existing_plan(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        member = await create_user(app)
        problem = assert_problem(
            await client.patch(f"{ADMIN_USERS}/{member}", json={"subscription_tier": "gold"}, headers=admin.headers),
            422,
        )
        assert "gold" in problem["detail"]
        account = await session.get(User, member)
        assert account is not None and account.subscription_tier == "free"

        await client.put(f"{PLANS}/gold", json={}, headers=admin.headers)
        moved = await client.patch(f"{ADMIN_USERS}/{member}", json={"subscription_tier": "gold"}, headers=admin.headers)
        assert moved.status_code == 200 and moved.json()["subscription_tier"] == "gold"
