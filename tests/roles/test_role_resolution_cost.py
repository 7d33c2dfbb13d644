"""Resolving a caller's roles costs no extra query: the permissions of their own custom role and of their groups'
roles are read in the statement that already loads the user (access token) or the key and its owner (API key)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event

from parley.auth.permissions import Role
from tests.factories import signed_in_user

API = "/api/v1"


@contextmanager
def _statements(app: FastAPI) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = app.state.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def _count(app: FastAPI, client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    with _statements(app) as seen:
        response = await client.get(f"{API}/users/me", headers=headers)
    assert response.status_code == 200, response.text
    return seen


async def test_roles_through_groups_add_no_statement_per_request(client: httpx.AsyncClient, app: FastAPI) -> None:
    admin = await signed_in_user(app, client, role=Role.ADMIN)
    plain = await signed_in_user(app, client)
    holder = await signed_in_user(app, client)
    created = await client.post(
        f"{API}/admin/roles", json={"name": "analyst", "permissions": ["admin:analytics"]}, headers=admin.headers
    )
    assert created.status_code == 201, created.text
    for group in ("Finance", "Controlling"):
        made = await client.post(f"{API}/admin/groups", json={"name": group, "role": "analyst"}, headers=admin.headers)
        added = await client.post(
            f"{API}/admin/groups/{made.json()['id']}/members", json={"user_id": str(holder.id)}, headers=admin.headers
        )
        assert added.status_code == 201, added.text
    key = await client.post(f"{API}/users/me/api-keys", json={"name": "k"}, headers=holder.headers)
    key_headers = {"Authorization": f"Bearer {key.json()['key']}"}
    await client.get(f"{API}/users/me", headers=key_headers)  # the key's first use stamps `last_used_at`

    baseline = await _count(app, client, plain.headers)
    with_roles = await _count(app, client, holder.headers)
    by_key = await _count(app, client, key_headers)
    assert len(baseline) == len(with_roles) == len(by_key) == 1, (baseline, with_roles, by_key)
    assert "roles" in with_roles[0] and "roles" in by_key[0]
