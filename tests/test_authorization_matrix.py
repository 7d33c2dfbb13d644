"""Who may call what: every route under /api, asked by every kind of caller, checked against one table.

The table below is the authorization contract. A route added to the app without a row here fails
`test_every_api_route_has_an_expectation`, so nothing ships with unreviewed access rules.

Callers: nobody (no header), forged/expired/unsigned access tokens, a revoked API key, a suspended user (by
token and by API key), user A (who owns the objects in the paths), user B, an admin, and two of A's API keys:
one scoped to `conversations:read` only and one with the default (full non-admin) scopes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import fastapi.routing
import httpx
import jwt
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from parley.auth.permissions import Role
from tests.factories import PASSWORD, TEST_AUTH, assert_problem, create_user, sign_in, signed_in_user

API = "/api/v1"
KEYS = f"{API}/users/me/api-keys"

# Callers whose credential is missing or worthless: always 401 with a WWW-Authenticate challenge.
UNAUTHENTICATED = ("anonymous", "expired_token", "forged_token", "unsigned_token", "revoked_key")
# Callers who prove who they are but whose account is suspended: always 403.
SUSPENDED = ("suspended_user", "suspended_user_key")
# Callers with a live credential; each route's row says what they get.
ALLOWED = ("user_a", "user_b", "admin", "read_key", "full_key")
CALLERS = UNAUTHENTICATED + SUSPENDED + ALLOWED


@dataclass
class World:
    """The people and credentials of one test, and the client they call through."""

    client: httpx.AsyncClient
    user_a_email: str
    target_user: uuid.UUID
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def auth(self, caller: str) -> dict[str, str]:
        return self.headers[caller]


Body = Callable[[World], Awaitable[Any]]


@dataclass(frozen=True)
class Allowed:
    """Status each live caller gets: user A (owner of the path's objects), user B, an admin, A's key scoped to
    `conversations:read`, A's key with default scopes."""

    user_a: int
    user_b: int
    admin: int
    read_key: int
    full_key: int

    def of(self, caller: str) -> int:
        status: int = getattr(self, caller)
        return status


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    # Authenticated route: what each live caller gets. Public route: `public`, the one status everybody gets.
    allowed: Allowed | None = None
    public: int | None = None
    body: Body | None = None
    label: str = ""
    # The body is sent as multipart/form-data (`body` returns httpx `files=`), not JSON.
    multipart: bool = False

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}" + (f" [{self.label}]" if self.label else "")

    def expected(self, caller: str) -> int:
        if self.public is not None:
            return self.public
        assert self.allowed is not None
        if caller in UNAUTHENTICATED:
            return 401
        if caller in SUSPENDED:
            return 403
        return self.allowed.of(caller)


def _fixed(value: Any) -> Body:
    async def body(world: World) -> Any:
        return value

    return body


async def _fresh_email(world: World) -> dict[str, str]:
    return {"email": f"new-{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD}


async def _user_a_credentials(world: World) -> dict[str, str]:
    return {"email": world.user_a_email, "password": PASSWORD}


async def _fresh_refresh_token(world: World) -> dict[str, str]:
    return {"refresh_token": (await sign_in(world.client, world.user_a_email))["refresh_token"]}


async def _new_conversation_of_a(world: World) -> str:
    response = await world.client.post(f"{API}/conversations", json={"title": "A's"}, headers=world.auth("user_a"))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _new_api_key_of_a(world: World) -> str:
    response = await world.client.post(KEYS, json={"name": "to revoke"}, headers=world.auth("user_a"))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _new_message_of_a(world: World) -> str:
    response = await world.client.post(
        f"{API}/chat", json={"message": "hello", "stream": False}, headers=world.auth("user_a")
    )
    assert response.status_code == 200, response.text
    return str(response.json()["user_message_id"])


async def _new_file_of_a(world: World) -> str:
    response = await world.client.post(
        f"{API}/chat/upload", files={"file": ("a.txt", b"A's notes", "text/plain")}, headers=world.auth("user_a")
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _target_user(world: World) -> str:
    return str(world.target_user)


# Path parameters are made fresh for every request, so one caller's DELETE cannot change what the next one sees.
PATH_PARAMETERS: dict[str, Callable[[World], Awaitable[str]]] = {
    "conversation_id": _new_conversation_of_a,
    "key_id": _new_api_key_of_a,
    "message_id": _new_message_of_a,
    "file_id": _new_file_of_a,
    "user_id": _target_user,
}


async def _new_knowledge_base_of_a(world: World) -> str:
    """A new knowledge base of A holding A's newest file and attached to A's newest conversation (so routes about
    a file or a conversation's knowledge base find one), remembered for the grant maker."""
    headers = world.auth("user_a")
    response = await world.client.post(f"{API}/knowledge-bases", json={"name": "A's"}, headers=headers)
    assert response.status_code == 201, response.text
    kb_id = str(response.json()["id"])
    files = (await world.client.get(f"{API}/files", params={"limit": 1}, headers=headers)).json()["items"]
    if files:
        added = await world.client.post(
            f"{API}/knowledge-bases/{kb_id}/files", json={"file_id": files[0]["id"]}, headers=headers
        )
        assert added.status_code == 201, added.text
    chats = (await world.client.get(f"{API}/conversations", params={"limit": 1}, headers=headers)).json()["items"]
    if chats:
        attached = await world.client.put(
            f"{API}/conversations/{chats[0]['id']}/knowledge-bases/{kb_id}", headers=headers
        )
        assert attached.status_code == 200, attached.text
    world.__dict__["last_knowledge_base"] = kb_id
    return kb_id


async def _new_grant_of_a(world: World) -> str:
    kb_id = world.__dict__["last_knowledge_base"]
    response = await world.client.post(
        f"{API}/knowledge-bases/{kb_id}/grants", json={"user_id": str(world.target_user)}, headers=world.auth("user_a")
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _file_of_a_body(world: World) -> dict[str, str]:
    return {"file_id": await _new_file_of_a(world)}


async def _grant_to_target_body(world: World) -> dict[str, str]:
    return {"user_id": str(world.target_user), "permission": "read"}


async def _new_group_with_target(world: World) -> str:
    """A new group (made by the admin) with the target user in it, so removing that member finds one."""
    admin = world.auth("admin")
    response = await world.client.post(
        f"{API}/admin/groups", json={"name": f"group {uuid.uuid4().hex[:10]}"}, headers=admin
    )
    assert response.status_code == 201, response.text
    group_id = str(response.json()["id"])
    added = await world.client.post(
        f"{API}/admin/groups/{group_id}/members", json={"user_id": str(world.target_user)}, headers=admin
    )
    assert added.status_code == 201, added.text
    return group_id


async def _fresh_group_name(world: World) -> dict[str, str]:
    return {"name": f"group {uuid.uuid4().hex[:10]}"}


async def _target_as_member(world: World) -> dict[str, str]:
    return {"user_id": str(world.target_user)}


async def _new_plan(world: World) -> str:
    """A new plan (made by the admin) nobody is on, so deleting it succeeds."""
    name = f"plan-{uuid.uuid4().hex[:10]}"
    response = await world.client.put(f"{API}/admin/plans/{name}", json={}, headers=world.auth("admin"))
    assert response.status_code == 201, response.text
    return name


async def _new_role(world: World) -> str:
    """A new custom role (made by the admin) nobody holds, so deleting it succeeds."""
    response = await world.client.post(
        f"{API}/admin/roles",
        json={"name": f"role-{uuid.uuid4().hex[:10]}", "permissions": []},
        headers=world.auth("admin"),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _fresh_role(world: World) -> dict[str, Any]:
    return {"name": f"role-{uuid.uuid4().hex[:10]}", "permissions": ["chat"]}


async def _ready_export_of_a(world: World) -> str:
    """A's data export, built (by the app's job workers) and ready to download; one per world, since A may run
    only one export at a time."""
    made: str | None = getattr(world, "export_of_a", None)
    if made is not None:
        return made
    headers = world.auth("user_a")
    response = await world.client.post(f"{API}/users/me/export", headers=headers)
    assert response.status_code == 202, response.text
    made = str(response.json()["id"])
    for _ in range(300):
        status = (await world.client.get(f"{API}/users/me/exports/{made}", headers=headers)).json()["status"]
        if status == "ready":
            break
        await asyncio.sleep(0.1)
    world.export_of_a = made  # type: ignore[attr-defined]
    return made


PATH_PARAMETERS["group_id"] = _new_group_with_target
PATH_PARAMETERS["export_id"] = _ready_export_of_a
PATH_PARAMETERS["name"] = _new_plan
PATH_PARAMETERS["role_id"] = _new_role


async def _new_report_of_a(world: World) -> str:
    """A's report of one of A's answers (for the Review queue's routes)."""
    headers = world.auth("user_a")
    answer = await world.client.post(f"{API}/chat", json={"message": "hello", "stream": False}, headers=headers)
    assert answer.status_code == 200, answer.text
    url = f"{API}/chat/messages/{answer.json()['message_id']}/report"
    response = await world.client.post(url, json={"reason": "other"}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


PATH_PARAMETERS["report_id"] = _new_report_of_a


async def _fresh_model(world: World) -> dict[str, str]:
    return {"name": f"model-{uuid.uuid4().hex[:10]}", "provider": "scripted"}


async def _new_model(world: World) -> str:
    """A model added at run time (by the admin) no plan lists, so deleting it succeeds."""
    response = await world.client.post(
        f"{API}/admin/models", json=await _fresh_model(world), headers=world.auth("admin")
    )
    assert response.status_code == 201, response.text
    return str(response.json()["name"])


PATH_PARAMETERS["name:path"] = _new_model


async def _unconfigured_provider(world: World) -> str:
    """This app has no OIDC provider configured (tests/identity has a real one): every provider id is unknown."""
    return "okta"


PATH_PARAMETERS["provider"] = _unconfigured_provider
# Nor any SAML IdP (tests/identity/test_saml_*.py run a real one).
PATH_PARAMETERS["idp"] = _unconfigured_provider

# After file_id and conversation_id: the knowledge base maker uses what they made; the grant maker uses its KB.
PATH_PARAMETERS["knowledge_base_id"] = _new_knowledge_base_of_a
PATH_PARAMETERS["grant_id"] = _new_grant_of_a

OWNER_ONLY_READ = Allowed(user_a=200, user_b=404, admin=404, read_key=200, full_key=200)
OWNER_ONLY_WRITE = Allowed(user_a=200, user_b=404, admin=404, read_key=403, full_key=200)
OWNER_ONLY_DELETE = Allowed(user_a=204, user_b=404, admin=404, read_key=403, full_key=204)
ADMIN_ONLY = Allowed(user_a=403, user_b=403, admin=200, read_key=403, full_key=403)
SIGNED_IN_ONLY = Allowed(user_a=200, user_b=200, admin=200, read_key=403, full_key=403)
# Knowledge-base routes need `files:*` scopes, which the `conversations:read` key lacks.
KB_OWNER_ONLY = Allowed(user_a=200, user_b=404, admin=404, read_key=403, full_key=200)
KB_OWNER_ONLY_DELETE = Allowed(user_a=204, user_b=404, admin=404, read_key=403, full_key=204)
CHANGE_PASSWORD = {"current_password": PASSWORD, "new_password": "an entirely new passphrase"}

CASES: list[Case] = [
    # Public: the Authorization header, whatever it holds, changes nothing.
    Case("GET", "/healthz", public=200),
    Case("GET", "/readyz", public=200),
    Case("POST", f"{API}/auth/register", public=201, body=_fresh_email),
    Case("POST", f"{API}/auth/login", public=200, body=_user_a_credentials),
    Case("POST", f"{API}/auth/refresh", public=200, body=_fresh_refresh_token),
    Case("POST", f"{API}/auth/logout", public=204, body=_fresh_refresh_token),
    # Single sign-on (tests/identity covers the round trip): public, and a provider must be configured.
    Case("GET", f"{API}/auth/providers", public=200),
    Case("GET", f"{API}/auth/oidc/{{provider}}/login", public=404),
    Case("GET", f"{API}/auth/oidc/{{provider}}/callback", public=404),
    Case("GET", f"{API}/auth/oidc/logout", public=303),
    Case("GET", f"{API}/auth/saml/{{idp}}/metadata", public=404),
    Case("GET", f"{API}/auth/saml/{{idp}}/login", public=404),
    Case("POST", f"{API}/auth/saml/{{idp}}/acs", public=404),
    # Your own profile.
    Case("GET", f"{API}/users/me", Allowed(200, 200, 200, read_key=403, full_key=200)),
    Case(
        "PATCH",
        f"{API}/users/me",
        Allowed(200, 200, 200, read_key=403, full_key=200),
        body=_fixed({"full_name": "Renamed"}),
        label="name",
    ),
    Case("PATCH", f"{API}/users/me", SIGNED_IN_ONLY, body=_fixed(CHANGE_PASSWORD), label="password change"),
    # Your data (GDPR): exports and erasure need a signed-in session; a leaked key can neither take nor delete it.
    Case("POST", f"{API}/users/me/export", Allowed(202, 202, 202, 403, 403)),
    Case("GET", f"{API}/users/me/exports", SIGNED_IN_ONLY),
    Case("GET", f"{API}/users/me/exports/{{export_id}}", Allowed(200, 404, 404, 403, 403)),
    Case("GET", f"{API}/users/me/exports/{{export_id}}/download", Allowed(200, 404, 404, 403, 403)),
    # Callers in turn: A and B delete their accounts; the admin is the last admin (409); A's keys died with A (401).
    Case(
        "DELETE",
        f"{API}/users/me",
        Allowed(user_a=204, user_b=204, admin=409, read_key=401, full_key=401),
        body=_fixed({"password": PASSWORD}),
    ),
    # Managing credentials needs a signed-in session: a leaked key cannot mint or revoke keys.
    Case("GET", KEYS, SIGNED_IN_ONLY),
    Case("POST", KEYS, Allowed(201, 201, 201, 403, 403), body=_fixed({"name": "another"})),
    Case("DELETE", KEYS + "/{key_id}", Allowed(user_a=204, user_b=404, admin=404, read_key=403, full_key=403)),
    # Administration.
    Case("GET", f"{API}/admin/users", ADMIN_ONLY),
    Case("PATCH", f"{API}/admin/users/{{user_id}}", ADMIN_ONLY, body=_fixed({"subscription_tier": "pro"})),
    Case("POST", f"{API}/admin/users/{{user_id}}/suspend", ADMIN_ONLY),
    Case("POST", f"{API}/admin/users/{{user_id}}/unsuspend", ADMIN_ONLY),
    Case("PUT", f"{API}/admin/users/{{user_id}}/limits", ADMIN_ONLY, body=_fixed({"tokens_per_day": 5})),
    Case("DELETE", f"{API}/admin/users/{{user_id}}/limits", Allowed(403, 403, 204, 403, 403)),
    Case("DELETE", f"{API}/admin/users/{{user_id}}", Allowed(403, 403, 204, 403, 403)),
    Case("POST", f"{API}/admin/users/{{user_id}}/legal-hold", ADMIN_ONLY, body=_fixed({"hold": True})),
    Case("GET", f"{API}/admin/plans", ADMIN_ONLY),
    Case("PUT", f"{API}/admin/plans/{{name}}", ADMIN_ONLY, body=_fixed({"tokens_per_day": 5})),
    Case("DELETE", f"{API}/admin/plans/{{name}}", Allowed(403, 403, 204, 403, 403)),
    Case("GET", f"{API}/admin/models", ADMIN_ONLY),
    Case("POST", f"{API}/admin/models", Allowed(403, 403, 201, 403, 403), body=_fresh_model),
    Case("PATCH", f"{API}/admin/models/{{name:path}}", ADMIN_ONLY, body=_fixed({"price_per_1k_input": "0.1"})),
    Case("DELETE", f"{API}/admin/models/{{name:path}}", Allowed(403, 403, 204, 403, 403)),
    Case("GET", f"{API}/admin/groups", ADMIN_ONLY),
    Case("POST", f"{API}/admin/groups", Allowed(403, 403, 201, 403, 403), body=_fresh_group_name),
    Case("GET", f"{API}/admin/groups/{{group_id}}", ADMIN_ONLY),
    Case("PATCH", f"{API}/admin/groups/{{group_id}}", ADMIN_ONLY, body=_fresh_group_name),
    Case("DELETE", f"{API}/admin/groups/{{group_id}}", Allowed(403, 403, 204, 403, 403)),
    Case("GET", f"{API}/admin/groups/{{group_id}}/members", ADMIN_ONLY),
    Case(
        "POST",
        f"{API}/admin/groups/{{group_id}}/members",
        Allowed(403, 403, 201, 403, 403),
        body=_target_as_member,
    ),
    Case("DELETE", f"{API}/admin/groups/{{group_id}}/members/{{user_id}}", Allowed(403, 403, 204, 403, 403)),
    Case("PUT", f"{API}/admin/groups/{{group_id}}/limits", ADMIN_ONLY, body=_fixed({"tokens_per_day": 5})),
    Case("DELETE", f"{API}/admin/groups/{{group_id}}/limits", Allowed(403, 403, 204, 403, 403)),
    # Group names, to share with: anyone signed in (and keys with profile scope).
    Case("GET", f"{API}/groups", Allowed(200, 200, 200, read_key=403, full_key=200)),
    Case("GET", f"{API}/users/me/groups", Allowed(200, 200, 200, read_key=403, full_key=200)),
    Case("GET", f"{API}/admin/audit-events", ADMIN_ONLY),
    # The SIEM export (JSON Lines) and the hash chain's verification: the `admin:audit` scope.
    Case("GET", f"{API}/admin/audit-events/export", ADMIN_ONLY),
    Case("GET", f"{API}/admin/audit-events/verification", ADMIN_ONLY),
    # Custom roles (`admin:roles`).
    Case("GET", f"{API}/admin/roles", ADMIN_ONLY),
    Case("POST", f"{API}/admin/roles", Allowed(403, 403, 201, 403, 403), body=_fresh_role),
    Case("PATCH", f"{API}/admin/roles/{{role_id}}", ADMIN_ONLY, body=_fixed({"description": "changed"})),
    Case("DELETE", f"{API}/admin/roles/{{role_id}}", Allowed(403, 403, 204, 403, 403)),
    # Organisation analytics and the chargeback export: admins (the `admin:analytics` scope) only.
    Case("GET", f"{API}/admin/analytics", ADMIN_ONLY),
    Case("GET", f"{API}/admin/analytics.csv", ADMIN_ONLY),
    Case("GET", f"{API}/admin/scim", ADMIN_ONLY),
    Case("GET", f"{API}/admin/sso", ADMIN_ONLY),
    Case("POST", f"{API}/admin/scim/token", Allowed(403, 403, 201, 403, 403)),
    # Conversations: someone else's is "not found", for admins too.
    Case("GET", f"{API}/conversations", Allowed(200, 200, 200, read_key=200, full_key=200)),
    Case("POST", f"{API}/conversations", Allowed(201, 201, 201, read_key=403, full_key=201), body=_fixed({})),
    Case("GET", f"{API}/conversations/{{conversation_id}}", OWNER_ONLY_READ),
    Case("GET", f"{API}/conversations/{{conversation_id}}/context", OWNER_ONLY_READ),
    Case("PATCH", f"{API}/conversations/{{conversation_id}}", OWNER_ONLY_WRITE, body=_fixed({"title": "Renamed"})),
    Case("DELETE", f"{API}/conversations/{{conversation_id}}", OWNER_ONLY_DELETE),
    # Chat: sending needs the `chat` scope; another user's conversation or message is "not found".
    Case("POST", f"{API}/chat", Allowed(200, 200, 200, read_key=403, full_key=200), body=_fixed({"message": "hi"})),
    Case("POST", f"{API}/chat/{{conversation_id}}/stop", OWNER_ONLY_WRITE),
    # A fresh conversation has nothing to regenerate (409) and nothing streaming to reattach to (404).
    Case(
        "POST",
        f"{API}/chat/{{conversation_id}}/regenerate",
        Allowed(user_a=409, user_b=404, admin=404, read_key=403, full_key=409),
        body=_fixed({}),
    ),
    Case("GET", f"{API}/chat/{{conversation_id}}/stream", Allowed(404, 404, 404, read_key=404, full_key=404)),
    Case("GET", f"{API}/chat/{{conversation_id}}/messages", OWNER_ONLY_READ),
    Case("DELETE", f"{API}/chat/messages/{{message_id}}", OWNER_ONLY_DELETE),
    # Feedback on an answer: `message_id` is A's question here, which cannot be rated (422) once past the checks.
    Case(
        "PUT",
        f"{API}/messages/{{message_id}}/feedback",
        Allowed(user_a=422, user_b=404, admin=404, read_key=403, full_key=422),
        body=_fixed({"rating": "up"}),
    ),
    Case(
        "DELETE",
        f"{API}/messages/{{message_id}}/feedback",
        Allowed(user_a=422, user_b=404, admin=404, read_key=403, full_key=422),
    ),
    # The same rating under /chat/messages; reporting an answer (A's question here: 422 once past the checks).
    Case(
        "POST",
        f"{API}/chat/messages/{{message_id}}/feedback",
        Allowed(user_a=422, user_b=404, admin=404, read_key=403, full_key=422),
        body=_fixed({"rating": "up"}),
    ),
    Case(
        "POST",
        f"{API}/chat/messages/{{message_id}}/report",
        Allowed(user_a=422, user_b=404, admin=404, read_key=403, full_key=422),
        body=_fixed({"reason": "other"}),
    ),
    # The Review queue (`admin:reports`).
    Case("GET", f"{API}/admin/reports", ADMIN_ONLY),
    Case("GET", f"{API}/admin/reports/{{report_id}}", ADMIN_ONLY),
    Case(
        "POST",
        f"{API}/admin/reports/{{report_id}}/actions",
        ADMIN_ONLY,
        body=_fixed({"action": "note", "note": "seen"}),
    ),
    Case("GET", f"{API}/users/me/usage", Allowed(200, 200, 200, read_key=403, full_key=200)),
    Case("GET", f"{API}/users/me/limits", Allowed(200, 200, 200, read_key=403, full_key=200)),
    # Files: `files:read` / `files:write` scopes; another user's file is "not found", for admins too.
    Case(
        "POST",
        f"{API}/chat/upload",
        Allowed(201, 201, 201, read_key=403, full_key=201),
        body=_fixed({"file": ("n.txt", b"notes", "text/plain")}),
        multipart=True,
    ),
    Case("GET", f"{API}/files", Allowed(200, 200, 200, read_key=403, full_key=200)),
    Case("GET", f"{API}/files/{{file_id}}", Allowed(user_a=200, user_b=404, admin=404, read_key=403, full_key=200)),
    Case(
        "GET",
        f"{API}/files/{{file_id}}/content",
        Allowed(user_a=200, user_b=404, admin=404, read_key=403, full_key=200),
    ),
    Case("DELETE", f"{API}/files/{{file_id}}", OWNER_ONLY_DELETE),
    # Knowledge bases: `files:read` / `files:write` scopes; someone else's knowledge base is "not found" (admins too).
    Case("GET", f"{API}/knowledge-bases", Allowed(200, 200, 200, read_key=403, full_key=200)),
    Case(
        "POST", f"{API}/knowledge-bases", Allowed(201, 201, 201, read_key=403, full_key=201), body=_fixed({"name": "K"})
    ),
    Case("GET", f"{API}/knowledge-bases/{{knowledge_base_id}}", KB_OWNER_ONLY),
    Case("PATCH", f"{API}/knowledge-bases/{{knowledge_base_id}}", KB_OWNER_ONLY, body=_fixed({"name": "Renamed"})),
    Case("DELETE", f"{API}/knowledge-bases/{{knowledge_base_id}}", KB_OWNER_ONLY_DELETE),
    Case("GET", f"{API}/knowledge-bases/{{knowledge_base_id}}/files", KB_OWNER_ONLY),
    Case(
        "POST",
        f"{API}/knowledge-bases/{{knowledge_base_id}}/files",
        Allowed(201, 404, 404, read_key=403, full_key=201),
        body=_file_of_a_body,
    ),
    Case("DELETE", f"{API}/knowledge-bases/{{knowledge_base_id}}/files/{{file_id}}", KB_OWNER_ONLY_DELETE),
    Case("GET", f"{API}/knowledge-bases/{{knowledge_base_id}}/grants", KB_OWNER_ONLY),
    Case(
        "POST",
        f"{API}/knowledge-bases/{{knowledge_base_id}}/grants",
        Allowed(201, 404, 404, read_key=403, full_key=201),
        body=_grant_to_target_body,
    ),
    Case("DELETE", f"{API}/knowledge-bases/{{knowledge_base_id}}/grants/{{grant_id}}", KB_OWNER_ONLY_DELETE),
    Case("GET", f"{API}/conversations/{{conversation_id}}/knowledge-bases", KB_OWNER_ONLY),
    Case("PUT", f"{API}/conversations/{{conversation_id}}/knowledge-bases/{{knowledge_base_id}}", KB_OWNER_ONLY),
    Case(
        "DELETE", f"{API}/conversations/{{conversation_id}}/knowledge-bases/{{knowledge_base_id}}", KB_OWNER_ONLY_DELETE
    ),
]


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every endpoint of the app, including those of included routers.

    FastAPI >= 0.16x keeps included routers as one entry each in `app.routes`; `iter_route_contexts` walks into
    them (older versions list the routes themselves, which the fallback handles).
    """
    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    entries: Iterable[Any] = walk(app.routes) if walk is not None else app.routes
    found = set()
    for entry in entries:
        if isinstance(getattr(entry, "original_route", entry), APIRoute):
            found.update((method, str(entry.path)) for method in entry.methods or ())
    return found


def _access_token(claims: dict[str, Any], secret: str) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def _claims(user_id: uuid.UUID, *, expires_in: timedelta, session_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "iss": "parley",
        "aud": "parley-api",
        "sub": str(user_id),
        "sid": session_id,
        "iat": now - timedelta(hours=2),
        "exp": now + expires_in,
        "jti": uuid.uuid4().hex,
        "role": "user",
    }


def _unsigned_token(claims: dict[str, Any]) -> str:
    """An `alg: none` token: well-formed, carrying valid claims, with no signature at all."""

    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value, default=lambda moment: int(moment.timestamp())).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def _api_key(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post(KEYS, json={"name": "key", **body}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _build_world(app: FastAPI, client: httpx.AsyncClient) -> World:
    user_a = await signed_in_user(app, client)
    user_b = await signed_in_user(app, client)
    admin = await signed_in_user(app, client, role=Role.ADMIN)
    suspended = await signed_in_user(app, client)
    target = await create_user(app)
    secret = TEST_AUTH["jwt_secret"]
    # A's own open session: the made-up tokens below differ from a working one only where the case says.
    sid = str(jwt.decode(user_a.access_token, options={"verify_signature": False})["sid"])

    # The expired token differs from a working one only in `exp`: the 401 is about expiry, not shape.
    assert (
        await client.get(
            f"{API}/users/me",
            headers=_bearer(_access_token(_claims(user_a.id, expires_in=timedelta(hours=1), session_id=sid), secret)),
        )
    ).status_code == 200

    read_key = await _api_key(client, user_a.headers, scopes=["conversations:read"])
    full_key = await _api_key(client, user_a.headers)
    revoked_key = await _api_key(client, user_a.headers)
    assert (await client.delete(f"{KEYS}/{revoked_key['id']}", headers=user_a.headers)).status_code == 204
    suspended_key = await _api_key(client, suspended.headers)
    suspension = await client.post(f"{API}/admin/users/{suspended.id}/suspend", headers=admin.headers)
    assert suspension.status_code == 200, suspension.text

    world = World(client=client, user_a_email=user_a.email, target_user=target)
    world.headers = {
        "anonymous": {},
        "expired_token": _bearer(
            _access_token(_claims(user_a.id, expires_in=-timedelta(hours=1), session_id=sid), secret)
        ),
        "forged_token": _bearer(
            _access_token(
                _claims(user_a.id, expires_in=timedelta(hours=1), session_id=sid), "not-the-server-key-" + "y" * 32
            )
        ),
        "unsigned_token": _bearer(_unsigned_token(_claims(user_a.id, expires_in=timedelta(hours=1), session_id=sid))),
        "revoked_key": _bearer(revoked_key["key"]),
        "suspended_user": suspended.headers,
        "suspended_user_key": _bearer(suspended_key["key"]),
        "user_a": user_a.headers,
        "user_b": user_b.headers,
        "admin": admin.headers,
        "read_key": _bearer(read_key["key"]),
        "full_key": _bearer(full_key["key"]),
    }
    assert set(world.headers) == set(CALLERS)
    return world


def _mismatch(case: Case, caller: str, response: httpx.Response) -> str | None:
    """Why this response breaks the contract, or None when it keeps it."""
    expected = case.expected(caller)
    if response.status_code != expected:
        return f"{caller}: expected {expected}, got {response.status_code} {response.text[:200]}"
    if expected >= 400:
        try:
            assert_problem(response, expected)
        except AssertionError as exc:
            return f"{caller}: {expected} is not problem+json ({exc})"
    if expected == 401 and not response.headers.get("www-authenticate", "").startswith("Bearer"):
        return f"{caller}: 401 without a Bearer WWW-Authenticate challenge"
    return None


class TestAuthorizationMatrix:
    def test_every_api_route_has_an_expectation(self, app):
        routes = app_routes(app)
        api_routes = {(method, path) for method, path in routes if path.startswith("/api")}
        # A walk that silently found nothing would make this test pass vacuously.
        assert len(api_routes) >= 16, f"the route walk found too few routes: {sorted(routes)}"
        covered = {(case.method, case.path) for case in CASES}
        missing = api_routes - covered
        assert not missing, f"routes with no row in the authorization table: {sorted(missing)}"
        stale = covered - routes
        assert not stale, f"rows for routes that no longer exist: {sorted(stale)}"

    @pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
    async def test_each_caller_gets_what_the_table_says(self, case: Case, client, app):
        world = await _build_world(app, client)
        problems = []
        for caller in CALLERS:
            path = case.path
            for name, make in PATH_PARAMETERS.items():
                if "{" + name + "}" in path:
                    path = path.replace("{" + name + "}", await make(world))
            body = await case.body(world) if case.body else None
            payload = {"files": body} if case.multipart else {"json": body if case.body else None}
            response = await client.request(case.method, path, headers=world.auth(caller), **payload)
            # An exact status match also means no caller is ever let through (2xx) where the table refuses.
            if (problem := _mismatch(case, caller, response)) is not None:
                problems.append(problem)
        assert not problems, f"{case.id}:\n" + "\n".join(problems)


# Every scope an API key can hold (README, "Authentication"), and the routes that need exactly which scopes. A key
# holding one scope may call the routes whose needs it covers and gets 403 on every other. `/v1` stores no
# conversation: `chat` alone opens it.
DOCUMENTED_SCOPES = (
    "profile:read",
    "profile:write",
    "conversations:read",
    "conversations:write",
    "chat",
    "files:read",
    "files:write",
    "knowledge_bases:manage",
    "admin:users",
    "admin:audit",
    "admin:analytics",
    "admin:models",
    "admin:plans",
    "admin:groups",
    "admin:roles",
    "admin:reports",
)


@dataclass(frozen=True)
class ScopedRoute:
    method: str
    path: str
    needs: frozenset[str]
    body: Any = None
    # Sent as a multipart upload (`file`, and `body` as the form's fields) rather than as JSON.
    upload: bool = False
    # The URL requested, for a path with parameters (the path as the app declares it otherwise).
    url: str | None = None
    # The URL names an object that does not exist: a scope that opens the route gets a 404 (it was looked for).
    missing: bool = False

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


SCOPED_ROUTES = (
    ScopedRoute("GET", f"{API}/users/me", frozenset({"profile:read"})),
    ScopedRoute("PATCH", f"{API}/users/me", frozenset({"profile:write"}), {"full_name": "Scoped"}),
    ScopedRoute("GET", f"{API}/conversations", frozenset({"conversations:read"})),
    ScopedRoute("POST", f"{API}/conversations", frozenset({"conversations:write"}), {}),
    # The web chat stores the conversation, so it needs both.
    ScopedRoute("POST", f"{API}/chat", frozenset({"chat", "conversations:write"}), {"message": "hi", "stream": False}),
    ScopedRoute("GET", f"{API}/users/me/usage", frozenset({"profile:read"})),
    ScopedRoute("GET", f"{API}/files", frozenset({"files:read"})),
    ScopedRoute("POST", f"{API}/knowledge-bases", frozenset({"files:write"}), {"name": "K"}),
    ScopedRoute("GET", f"{API}/admin/users", frozenset({"admin:users"})),
    ScopedRoute("GET", f"{API}/admin/audit-events", frozenset({"admin:audit"})),
    ScopedRoute("GET", f"{API}/admin/audit-events/export", frozenset({"admin:audit"})),
    ScopedRoute("GET", f"{API}/admin/analytics", frozenset({"admin:analytics"})),
    ScopedRoute("GET", f"{API}/admin/models", frozenset({"admin:models"})),
    ScopedRoute("GET", f"{API}/admin/plans", frozenset({"admin:plans"})),
    ScopedRoute("GET", f"{API}/admin/groups", frozenset({"admin:groups"})),
    ScopedRoute("GET", f"{API}/admin/roles", frozenset({"admin:roles"})),
    ScopedRoute("GET", f"{API}/admin/reports", frozenset({"admin:reports"})),
    ScopedRoute("GET", "/v1/models", frozenset({"chat"})),
    ScopedRoute("GET", "/v1/models/{model_id:path}", frozenset({"chat"}), url="/v1/models/echo"),
    ScopedRoute(
        "POST",
        "/v1/chat/completions",
        frozenset({"chat"}),
        {"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
    ),
    ScopedRoute("POST", "/v1/embeddings", frozenset({"chat"}), {"input": "hi"}),
    ScopedRoute("POST", "/v1/completions", frozenset({"chat"}), {"model": "echo", "prompt": "hi"}),
    # OpenAI's Batch API: the same `chat` scope; files and batches are the key owner's own.
    ScopedRoute("POST", "/v1/files", frozenset({"chat"}), {"purpose": "batch"}, upload=True),
    ScopedRoute("GET", "/v1/files", frozenset({"chat"})),
    ScopedRoute("GET", "/v1/batches", frozenset({"chat"})),
    ScopedRoute(
        "POST",
        "/v1/batches",
        frozenset({"chat"}),
        {"input_file_id": "file-" + "0" * 32, "endpoint": "/v1/chat/completions", "completion_window": "24h"},
        missing=True,
    ),
    *(
        ScopedRoute(method, path, frozenset({"chat"}), url=path.replace(name, prefix + "0" * 32), missing=True)
        for method, path, name, prefix in (
            ("GET", "/v1/files/{file_id}", "{file_id}", "file-"),
            ("GET", "/v1/files/{file_id}/content", "{file_id}", "file-"),
            ("DELETE", "/v1/files/{file_id}", "{file_id}", "file-"),
            ("GET", "/v1/batches/{batch_id}", "{batch_id}", "batch_"),
            ("POST", "/v1/batches/{batch_id}/cancel", "{batch_id}", "batch_"),
        )
    ),
    # The Anthropic-compatible surface: the same `chat` scope (its own x-api-key header is tested beside it).
    ScopedRoute(
        "POST",
        "/v1/messages",
        frozenset({"chat"}),
        {"model": "echo", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
    ),
    ScopedRoute(
        "POST",
        "/v1/messages/count_tokens",
        frozenset({"chat"}),
        {"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
    ),
    # OpenAI's Responses API: the same `chat` scope; stored responses are the key owner's own.
    ScopedRoute("POST", "/v1/responses", frozenset({"chat"}), {"model": "echo", "input": "hi"}),
    *(
        ScopedRoute(
            method, path, frozenset({"chat"}), url=path.replace("{response_id}", "resp_" + "0" * 32), missing=True
        )
        for method, path in (
            ("GET", "/v1/responses/{response_id}"),
            ("DELETE", "/v1/responses/{response_id}"),
            ("GET", "/v1/responses/{response_id}/input_items"),
        )
    ),
)


async def send(client: httpx.AsyncClient, route: ScopedRoute, headers: dict[str, str]) -> httpx.Response:
    """A scoped route's request as the matrices send it: a multipart upload, or its JSON body."""
    sent: dict[str, Any] = (
        {"files": {"file": ("a.jsonl", b"{}\n")}, "data": route.body} if route.upload else {"json": route.body}
    )
    return await client.request(route.method, route.url or route.path, headers=headers, **sent)


def answered_as_expected(route: ScopedRoute, opened: bool, status: int) -> bool:
    """An opened route answers 2xx (404 for a route naming an object that does not exist); a closed one 403."""
    if opened:
        return status == 404 if route.missing else 200 <= status < 300
    return status == 403


class TestEachScopeOpensItsRoutes:
    def test_the_table_names_every_scope_and_every_v1_route(self, app):
        from parley.auth.permissions import Permission

        assert set(DOCUMENTED_SCOPES) == {permission.value for permission in Permission}
        v1_routes = {(method, path) for method, path in app_routes(app) if path.startswith("/v1/")}
        assert v1_routes == {(route.method, route.path) for route in SCOPED_ROUTES if route.path.startswith("/v1/")}

    @pytest.mark.parametrize("scope", DOCUMENTED_SCOPES)
    async def test_a_key_with_one_scope_gets_exactly_the_routes_that_scope_opens(self, scope: str, client, app):
        # The key of a user whose role holds every permission, so any scope can be granted; the key alone limits
        # what it may do.
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        owner = await signed_in_user(app, client)
        every = await client.post(
            f"{API}/admin/roles",
            json={"name": "everything", "permissions": list(DOCUMENTED_SCOPES)},
            headers=admin.headers,
        )
        assert every.status_code == 201, every.text
        given = await client.patch(f"{API}/admin/users/{owner.id}", json={"role": "everything"}, headers=admin.headers)
        assert given.status_code == 200, given.text
        key = await _api_key(client, owner.headers, scopes=[scope])
        problems = []
        for route in SCOPED_ROUTES:
            response = await send(client, route, _bearer(key["key"]))
            opened = route.needs <= {scope}
            if opened and route.missing:
                if response.status_code != 404:
                    problems.append(f"{route.id}: opened by {scope}, got {response.status_code} for a missing object")
            elif opened and not 200 <= response.status_code < 300:
                problems.append(f"{route.id}: opened by {scope}, got {response.status_code} {response.text[:200]}")
            elif not opened and response.status_code != 403:
                problems.append(f"{route.id}: needs {sorted(route.needs)}, got {response.status_code} for {scope}")
            elif not opened and route.path.startswith("/v1/"):
                error = response.json()["error"]
                if error["type"] != "permission_error" or scope in error["message"]:
                    problems.append(f"{route.id}: 403 not in OpenAI's shape or blaming the wrong scope: {error}")
            elif not opened:
                assert_problem(response, 403)
        assert not problems, f"key with only {scope}:\n" + "\n".join(problems)
