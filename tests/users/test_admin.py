"""What administrators do to accounts, and that each of it is audited."""

from __future__ import annotations

from sqlalchemy import select

from parley.auth.permissions import Role
from parley.models import AuditEvent
from tests.factories import assert_problem, create_user, signed_in_user

ADMIN_USERS = "/api/v1/admin/users"


class TestUserList:
    async def test_paginated_search_and_filters(self, client, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        await create_user(app, email="maria.garcia@acme.test", full_name="María García")
        await create_user(app, email="jonas@acme.test", full_name="Jonas Weber")
        await create_user(app, email="li@other.test", full_name="Li Wei", role=Role.ADMIN)

        by_email = (await client.get(ADMIN_USERS, params={"q": "ACME"}, headers=admin.headers)).json()
        assert {u["email"] for u in by_email["items"]} == {"maria.garcia@acme.test", "jonas@acme.test"}
        by_name = (await client.get(ADMIN_USERS, params={"q": "garcía"}, headers=admin.headers)).json()
        assert [u["email"] for u in by_name["items"]] == ["maria.garcia@acme.test"]
        admins = (await client.get(ADMIN_USERS, params={"role": "admin"}, headers=admin.headers)).json()
        assert {u["email"] for u in admins["items"]} == {admin.email, "li@other.test"}

        first = (await client.get(ADMIN_USERS, params={"page_size": 2}, headers=admin.headers)).json()
        second = (await client.get(ADMIN_USERS, params={"page_size": 2, "page": 2}, headers=admin.headers)).json()
        assert first["total"] == second["total"] == 4
        assert len(first["items"]) == 2 and len(second["items"]) == 2
        assert not {u["id"] for u in first["items"]} & {u["id"] for u in second["items"]}

    async def test_like_wildcards_in_search_are_literal(self, client, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        await create_user(app, email="plain@acme.test")
        found = (await client.get(ADMIN_USERS, params={"q": "%"}, headers=admin.headers)).json()
        assert found["total"] == 0


class TestSuspension:
    async def test_suspended_user_is_refused_at_once_with_every_credential(self, client, app, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        victim = await signed_in_user(app, client)
        key = (await client.post("/api/v1/users/me/api-keys", json={"name": "k"}, headers=victim.headers)).json()["key"]

        response = await client.post(f"{ADMIN_USERS}/{victim.id}/suspend", headers=admin.headers)
        assert response.status_code == 200 and response.json()["is_active"] is False

        assert_problem(await client.get("/api/v1/users/me", headers=victim.headers), 403)
        assert_problem(await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {key}"}), 403)
        refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": victim.refresh_token})
        assert refresh.status_code in (401, 403)
        filtered = (await client.get(ADMIN_USERS, params={"is_active": "false"}, headers=admin.headers)).json()
        assert [u["id"] for u in filtered["items"]] == [str(victim.id)]

        back = await client.post(f"{ADMIN_USERS}/{victim.id}/unsuspend", headers=admin.headers)
        assert back.status_code == 200 and back.json()["is_active"] is True
        assert (await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {key}"})).status_code == 200

        actions = (await session.scalars(select(AuditEvent.action).where(AuditEvent.target_id == str(victim.id)))).all()
        assert {"admin.user_suspend", "admin.user_unsuspend"} <= set(actions)

    async def test_admin_cannot_suspend_themselves(self, client, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        assert_problem(await client.post(f"{ADMIN_USERS}/{admin.id}/suspend", headers=admin.headers), 409)

    async def test_unknown_user_is_404(self, client, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        missing = "00000000-0000-0000-0000-000000000000"
        assert_problem(await client.post(f"{ADMIN_USERS}/{missing}/suspend", headers=admin.headers), 404)


class TestRoleAndTier:
    async def test_promote_change_tier_and_audit(self, client, app, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        member = await signed_in_user(app, client)
        response = await client.patch(
            f"{ADMIN_USERS}/{member.id}", json={"role": "admin", "subscription_tier": "pro"}, headers=admin.headers
        )
        assert response.status_code == 200, response.text
        assert (response.json()["role"], response.json()["subscription_tier"]) == ("admin", "pro")
        # The promotion applies to the member's existing token at once.
        assert (await client.get(ADMIN_USERS, headers=member.headers)).status_code == 200
        event = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "admin.user_update", AuditEvent.target_id == str(member.id))
        )
        assert event.actor_id == admin.id
        assert event.details["role"] == {"from": "user", "to": "admin"}

    async def test_last_admin_cannot_be_demoted(self, client, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        response = await client.patch(f"{ADMIN_USERS}/{admin.id}", json={"role": "user"}, headers=admin.headers)
        assert "last active admin" in assert_problem(response, 409)["detail"]

    async def test_unknown_role_or_tier_is_422(self, client, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        member = await signed_in_user(app, client)
        for body in ({"role": "superuser"}, {"subscription_tier": "platinum"}, {"is_active": False}):
            assert_problem(await client.patch(f"{ADMIN_USERS}/{member.id}", json=body, headers=admin.headers), 422)


class TestAuditTrail:
    async def test_admin_reads_the_trail_newest_first(self, client, app):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        member = await signed_in_user(app, client)
        await client.post(f"{ADMIN_USERS}/{member.id}/suspend", headers=admin.headers)
        trail = (await client.get("/api/v1/admin/audit-events", headers=admin.headers)).json()
        assert trail["items"][0]["action"] == "admin.user_suspend"
        assert trail["items"][0]["ip"] == "127.0.0.1"
        only_logins = (
            await client.get("/api/v1/admin/audit-events", params={"action": "auth.login"}, headers=admin.headers)
        ).json()
        assert {e["action"] for e in only_logins["items"]} == {"auth.login"}
        assert_problem(await client.get("/api/v1/admin/audit-events", headers=member.headers), 403)
