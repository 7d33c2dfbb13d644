"""What admins see and do of SCIM: status, base URL, token creation and rotation (audited, stored hashed)."""

from __future__ import annotations

from sqlalchemy import select

from parley.auth.permissions import Role
from parley.models import AuditEvent, ScimState
from tests.factories import assert_problem, signed_in_user
from tests.scim.conftest import BASE

STATUS = "/api/v1/admin/scim"


class TestScimAdmin:
    async def test_status_token_and_last_call(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        before = (await client.get(STATUS, headers=admin.headers)).json()
        assert before == {
            "enabled": False,
            "base_url": "http://testserver/scim/v2",
            "settings_token": False,
            "token_created_at": None,
            "last_call_at": None,
        }
        created = await client.post(f"{STATUS}/token", headers=admin.headers)
        assert created.status_code == 201
        token = created.json()["token"]
        assert token.startswith("scim-") and len(token) > 40
        assert created.json()["base_url"] == "http://testserver/scim/v2"

        after = (await client.get(STATUS, headers=admin.headers)).json()
        assert after["enabled"] is True and after["token_created_at"] is not None and after["last_call_at"] is None
        assert (await client.get(f"{BASE}/Users", headers={"Authorization": f"Bearer {token}"})).status_code == 200
        called = (await client.get(STATUS, headers=admin.headers)).json()
        assert called["last_call_at"] is not None

        state = await session.get(ScimState, 1)
        assert state is not None and state.token_hash is not None and token not in state.token_hash
        rotation = await session.scalar(select(AuditEvent).where(AuditEvent.action == "scim.token_rotate"))
        assert rotation is not None and rotation.actor_id == admin.id

    async def test_only_a_signed_in_admin_creates_a_token(self, app, client):
        user = await signed_in_user(app, client)
        assert_problem(await client.post(f"{STATUS}/token", headers=user.headers), 403)
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        key = await client.post("/api/v1/users/me/api-keys", json={"name": "k"}, headers=admin.headers)
        key_headers = {"Authorization": f"Bearer {key.json()['key']}"}
        assert_problem(await client.post(f"{STATUS}/token", headers=key_headers), 403)
