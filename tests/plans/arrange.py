"""Arranging plans for the tests: a user moved onto a plan an admin created."""

from __future__ import annotations

from parley.auth.permissions import Role
from tests.factories import SignedIn, signed_in_user

PLANS = "/api/v1/admin/plans"


async def user_on_plan(app, client, name: str, limits: dict[str, object]) -> SignedIn:
    """A signed-in user on a plan with these limits (created by an admin)."""
    admin = await signed_in_user(app, client, role=Role.ADMIN)
    assert (await client.put(f"{PLANS}/{name}", json=limits, headers=admin.headers)).status_code in (200, 201)
    user = await signed_in_user(app, client)
    moved = await client.patch(
        f"/api/v1/admin/users/{user.id}", json={"subscription_tier": name}, headers=admin.headers
    )
    assert moved.status_code == 200, moved.text
    return user
