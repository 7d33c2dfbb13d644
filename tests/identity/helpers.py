"""Small arrangements and checks shared by the OIDC tests."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
from sqlalchemy import select

from parley.auth.permissions import Role
from parley.db import Database
from parley.models import AuditEvent, User
from tests.factories import PASSWORD, create_user
from tests.identity.conftest import OidcParley
from tests.identity.op import authorize


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def with_query(url: str, **changes: str) -> str:
    """`url` with some query parameters replaced."""
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


async def sign_in_through(oidc: OidcParley, http: httpx.AsyncClient, provider: str, login: str) -> httpx.Response:
    """The whole round trip; returns Parley's answer to the callback."""
    callback = await authorize(http, oidc.url, provider, login)
    return await http.get(callback)


def assert_signed_in(response: httpx.Response) -> None:
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/chat"
    assert "parley_refresh=" in response.headers.get("set-cookie", "")


def assert_refused(response: httpx.Response, code: str) -> None:
    """Back on the sign-in page with the reason, and no session handed over."""
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/signin?sso_error={code}"
    assert "parley_refresh=" not in response.headers.get("set-cookie", "")


async def access_token(oidc: OidcParley, http: httpx.AsyncClient) -> str:
    """What the web app does after the callback: trade the refresh cookie for an access token."""
    refreshed = await http.post(f"{oidc.url}/api/v1/auth/refresh")
    assert refreshed.status_code == 200, refreshed.text
    token: str = refreshed.json()["access_token"]
    return token


async def me(oidc: OidcParley, http: httpx.AsyncClient) -> dict[str, Any]:
    token = await access_token(oidc, http)
    response = await http.get(f"{oidc.url}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def database(oidc: OidcParley) -> Database:
    db: Database = oidc.app.state.database
    return db


async def user_by_email(oidc: OidcParley, email: str) -> User | None:
    async with database(oidc).session() as session:
        return await session.scalar(select(User).where(User.email == email))


async def audit_events(oidc: OidcParley, action: str) -> list[AuditEvent]:
    async with database(oidc).session() as session:
        return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def password_token(oidc: OidcParley, role: Role) -> str:
    """An access token of a new password account with a built-in `role` (an administrator arranging things)."""
    email = f"{unique(role.value)}@example.test"
    await create_user(oidc.app, email=email, role=role)
    async with httpx.AsyncClient(base_url=oidc.url) as http:
        signed_in = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    return str(signed_in.json()["access_token"])
