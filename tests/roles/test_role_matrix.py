"""The authorization matrix by role (tests/test_authorization_matrix.py has it by caller and by API-key scope):
every role, built in or custom, gets exactly the routes its permissions open."""

from __future__ import annotations

import httpx
import pytest

from parley.auth.permissions import Role
from tests.factories import signed_in_user
from tests.test_authorization_matrix import (
    API,
    DOCUMENTED_SCOPES,
    SCOPED_ROUTES,
    ScopedRoute,
    answered_as_expected,
    send,
)


class TestEachRoleOpensItsRoutes:
    """Every role, built in or custom, gets exactly the routes its permissions open: the built-in `user` and
    `admin`, and for each permission a custom role holding only it, given to a user directly and through a group
    (a group's role adds to the member's own `user` role)."""

    @pytest.mark.parametrize("permission", DOCUMENTED_SCOPES)
    @pytest.mark.parametrize("through", ["own role", "group"])
    async def test_a_role_with_one_permission_opens_exactly_its_routes(
        self, permission: str, through: str, client, app
    ):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        holder = await signed_in_user(app, client)
        name = "only-" + permission.replace(":", "-").replace("_", "-")
        created = await client.post(
            f"{API}/admin/roles", json={"name": name, "permissions": [permission]}, headers=admin.headers
        )
        assert created.status_code == 201, created.text
        if through == "own role":
            given = await client.patch(f"{API}/admin/users/{holder.id}", json={"role": name}, headers=admin.headers)
            assert given.status_code == 200, given.text
            held = {permission}
        else:
            group = await client.post(f"{API}/admin/groups", json={"name": name, "role": name}, headers=admin.headers)
            assert group.status_code == 201, group.text
            added = await client.post(
                f"{API}/admin/groups/{group.json()['id']}/members",
                json={"user_id": str(holder.id)},
                headers=admin.headers,
            )
            assert added.status_code == 201, added.text
            held = {permission, *_BUILT_IN["user"]}
        assert _mismatched_routes(held, await _call_scoped_routes(client, holder.headers)) == []

    @pytest.mark.parametrize("role", [Role.USER, Role.ADMIN])
    async def test_the_built_in_roles_open_their_routes(self, role: Role, client, app):
        holder = await signed_in_user(app, client, role=role)
        assert _mismatched_routes(_BUILT_IN[role.value], await _call_scoped_routes(client, holder.headers)) == []


_BUILT_IN = {
    "user": {
        "profile:read",
        "profile:write",
        "conversations:read",
        "conversations:write",
        "chat",
        "files:read",
        "files:write",
    },
    # Every permission but curating everyone's knowledge bases, which is given on purpose.
    "admin": set(DOCUMENTED_SCOPES) - {"knowledge_bases:manage"},
}


async def _call_scoped_routes(client: httpx.AsyncClient, headers: dict[str, str]) -> list[tuple[ScopedRoute, int]]:
    return [(route, (await send(client, route, headers)).status_code) for route in SCOPED_ROUTES]


def _mismatched_routes(held: set[str], statuses: list[tuple[ScopedRoute, int]]) -> list[str]:
    return [
        f"{route.id}: needs {sorted(route.needs)}, holder of {sorted(held)} got {status}"
        for route, status in statuses
        if not answered_as_expected(route, route.needs <= held, status)
    ]
