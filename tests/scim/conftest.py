"""SCIM tests: an identity provider's client (`Scim`) holding the token an admin created, over HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio
from fastapi import FastAPI

from parley.auth.permissions import Role
from tests.factories import SignedIn, signed_in_user

BASE = "/scim/v2"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


@dataclass
class Scim:
    """What the IdP's SCIM client does, with the token the admin gave it."""

    client: httpx.AsyncClient
    token: str
    admin: SignedIn

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/scim+json"}

    async def request(self, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
        return await self.client.request(
            method, f"{BASE}{path}", json=body, params=params or None, headers=self.headers
        )

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.request("GET", path, **params)

    async def create_user(self, user_name: str, **attributes: Any) -> dict[str, Any]:
        body = {"schemas": [USER_SCHEMA], "userName": user_name, "active": True, **attributes}
        response = await self.request("POST", "/Users", body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def create_group(self, name: str, members: list[str] = (), **attributes: Any) -> dict[str, Any]:  # type: ignore[assignment]
        body = {"schemas": [GROUP_SCHEMA], "displayName": name, "members": [{"value": m} for m in members]}
        response = await self.request("POST", "/Groups", {**body, **attributes})
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def patch(self, path: str, *operations: dict[str, Any]) -> httpx.Response:
        return await self.request("PATCH", path, {"schemas": [PATCH_SCHEMA], "Operations": list(operations)})


def assert_scim_error(response: httpx.Response, status: int, scim_type: str | None = None) -> dict[str, Any]:
    """The response is a SCIM error (RFC 7644, 3.12) with this status (and scimType)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/scim+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["schemas"] == [ERROR_SCHEMA] and body["status"] == str(status)
    assert isinstance(body["detail"], str) and body["detail"] and "Traceback" not in response.text
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return body


@pytest_asyncio.fixture(loop_scope="session")
async def scim(app: FastAPI, client: httpx.AsyncClient) -> Scim:
    admin = await signed_in_user(app, client, role=Role.ADMIN)
    response = await client.post("/api/v1/admin/scim/token", headers=admin.headers)
    assert response.status_code == 201, response.text
    return Scim(client=client, token=response.json()["token"], admin=admin)
