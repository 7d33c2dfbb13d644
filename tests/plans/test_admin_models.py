"""The model catalogue as administrators see it: every configured model, whatever their own plan allows (the
plans and limits pages offer these names)."""

from __future__ import annotations

from parley.auth.permissions import Role
from tests.factories import assert_problem, signed_in_user


class TestCatalogue:
    async def test_admins_list_every_configured_model_whatever_their_plan(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        # The admin's own plan allows one model; the catalogue still lists them all.
        await client.put("/api/v1/admin/plans/free", json={"models": ["cheap"]}, headers=admin.headers)
        response = await client.get("/api/v1/admin/models", headers=admin.headers)
        assert response.status_code == 200, response.text
        names = [model["name"] for model in response.json()]
        assert names[:3] == ["echo", "slow", "cheap"] and "show-prompt" in names
        assert response.json()[0]["provider"] == "scripted"

    async def test_users_may_not_list_the_catalogue(self, app, client):
        user = await signed_in_user(app, client)
        assert_problem(await client.get("/api/v1/admin/models", headers=user.headers), 403)
