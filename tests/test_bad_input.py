"""Bad input never breaks the server: every malformed field, body, path id and query parameter gets a 4xx
problem+json (almost always 422), never a 500, never a silent success, and nothing is written.

Each route's fields are described once (`ROUTES`); the bad values for each field are generated from its
description. One test per route runs all of that route's cases and reports every failure together.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from parley.auth.permissions import Role
from tests.factories import PASSWORD, assert_problem, create_user, signed_in_user

API = "/api/v1"
LONG = "x" * 10_000
UNPROCESSABLE = frozenset({422})
ANY_CLIENT_ERROR = frozenset(range(400, 500))

Kind = Literal["text", "email", "int", "bool", "choice", "scopes"]


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    nullable: bool = False
    # "" is a meaningful value here (e.g. clearing your name), so it is not bad input.
    empty_ok: bool = False
    # Hashed and compared, never stored or searched as text (passwords, refresh tokens): a NUL in it is
    # merely a wrong secret, not malformed input.
    opaque: bool = False


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    valid: dict[str, Any]
    fields: tuple[Field, ...]
    caller: Literal["anonymous", "user", "admin"] = "user"
    # GET this (as the same caller) before and after the bad requests: nothing may have changed.
    state: str | None = None
    # The body may be absent (refresh and logout then use the browser's session cookie).
    body_optional: bool = False

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class BadRequest:
    label: str
    expect: frozenset[int]
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] | None = None

    def send_kwargs(self) -> dict[str, Any]:
        if self.content is not None:
            return {"content": self.content, "headers": self.headers or {}}
        return {"json": self.json}


ROUTES: list[Route] = [
    Route(
        "POST",
        f"{API}/auth/register",
        {"email": "newcomer@example.com", "password": PASSWORD, "full_name": "New Comer"},
        (
            Field("email", "email"),
            Field("password", "text", opaque=True),
            Field("full_name", "text", nullable=True, empty_ok=True),
        ),
        caller="anonymous",
    ),
    Route(
        "POST",
        f"{API}/auth/login",
        {"email": "{email}", "password": PASSWORD},
        (Field("email", "text"), Field("password", "text", opaque=True)),
        caller="anonymous",
    ),
    Route(
        "POST",
        f"{API}/auth/refresh",
        {"refresh_token": "{refresh_token}"},
        (Field("refresh_token", "text", nullable=True, opaque=True),),
        caller="anonymous",
        body_optional=True,
    ),
    Route(
        "POST",
        f"{API}/auth/logout",
        {"refresh_token": "{refresh_token}"},
        (Field("refresh_token", "text", nullable=True, opaque=True),),
        caller="anonymous",
        body_optional=True,
    ),
    Route(
        "PATCH",
        f"{API}/users/me",
        {"full_name": "Ada Lovelace"},
        (
            Field("full_name", "text", nullable=True, empty_ok=True),
            Field("current_password", "text", nullable=True, opaque=True),
            Field("new_password", "text", nullable=True, opaque=True),
        ),
        state=f"{API}/users/me",
    ),
    Route(
        "POST",
        f"{API}/users/me/api-keys",
        {"name": "CI"},
        (
            Field("name", "text"),
            Field("scopes", "scopes", nullable=True),
            Field("expires_in_days", "int", nullable=True),
        ),
        state=f"{API}/users/me/api-keys",
    ),
    Route(
        "PATCH",
        f"{API}/admin/users/{{user_id}}",
        {"subscription_tier": "pro"},
        (Field("role", "choice", nullable=True), Field("subscription_tier", "choice", nullable=True)),
        caller="admin",
        state=f"{API}/admin/users?q=target",
    ),
    Route(
        "POST",
        f"{API}/conversations",
        {"title": "Plans"},
        (Field("title", "text", nullable=True),),
        state=f"{API}/conversations",
    ),
    Route(
        "PATCH",
        f"{API}/conversations/{{conversation_id}}",
        {"title": "Renamed"},
        (Field("title", "text", nullable=True), Field("is_archived", "bool", nullable=True)),
        state=f"{API}/conversations/{{conversation_id}}",
    ),
    Route(
        "POST",
        f"{API}/knowledge-bases",
        {"name": "Handbook", "description": "Policies"},
        (Field("name", "text"), Field("description", "text", empty_ok=True)),
        state=f"{API}/knowledge-bases",
    ),
]


def bad_values(field: Field) -> dict[str, Any]:
    """Values of the wrong type, size or shape for `field`, by name."""
    values: dict[str, Any] = {"list": ["x"], "object": {"x": 1}, "10,000-char string": LONG}
    if not field.nullable:
        values["null"] = None
    if field.kind in ("text", "email"):
        values |= {"number": 12345, "boolean": True}
        if not field.empty_ok:
            values["empty string"] = ""
        if field.kind == "email":
            values["not an email"] = "not-an-email"
    elif field.kind == "int":
        values |= {"string": "ten", "fraction": 1.5, "boolean": True, "zero": 0, "too large": 10**9, "empty string": ""}
    elif field.kind == "bool":
        values |= {"number": 12345, "string": "maybe", "empty string": ""}
    elif field.kind == "choice":
        values |= {"number": 12345, "boolean": True, "unknown choice": "superuser", "empty string": ""}
    elif field.kind == "scopes":
        values |= {
            "bare string": "conversations:read",
            "number": 12345,
            "unknown scope": ["nope"],
            "no scopes": [],
            "21 scopes": ["chat"] * 21,
            "long scope": [LONG],
        }
    return values


def body_cases(route: Route, valid: dict[str, Any]) -> list[BadRequest]:
    cases = []
    for field in route.fields:
        for label, value in bad_values(field).items():
            cases.append(BadRequest(f"{field.name}: {label}", UNPROCESSABLE, json={**valid, field.name: value}))
        if field.kind in ("text", "email") and not field.opaque:
            # PostgreSQL text cannot hold NUL; the request must be refused, not crash on the INSERT/SELECT.
            cases.append(
                BadRequest(f"{field.name}: NUL character", ANY_CLIENT_ERROR, json={**valid, field.name: "a\x00b"})
            )
    json_type = {"content-type": "application/json"}
    return [
        *cases,
        BadRequest("unknown extra field", UNPROCESSABLE, json={**valid, "surprise": 1}),
        BadRequest("malformed JSON", UNPROCESSABLE, content=b'{"a": ', headers=json_type),
        *(
            []
            if route.body_optional
            else [
                BadRequest("empty body", UNPROCESSABLE, content=b"", headers=json_type),
                BadRequest("JSON null", UNPROCESSABLE, content=b"null", headers=json_type),
            ]
        ),
        BadRequest("JSON array", UNPROCESSABLE, content=b"[]", headers=json_type),
        BadRequest("JSON string", UNPROCESSABLE, content=b'"hello"', headers=json_type),
        BadRequest(
            "form-encoded body",
            frozenset({415, 422}),
            content=b"a=1&b=2",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
        BadRequest(
            "JSON sent as text/plain",
            frozenset({415, 422}),
            content=json.dumps(valid).encode(),
            headers={"content-type": "text/plain"},
        ),
    ]


@dataclass
class Context:
    headers: dict[str, dict[str, str]]
    values: dict[str, str]

    def fill(self, text: str) -> str:
        return text.format(**self.values) if "{" in text else text

    def fill_body(self, body: dict[str, Any]) -> dict[str, Any]:
        return {key: self.fill(value) if isinstance(value, str) else value for key, value in body.items()}


@pytest_asyncio.fixture(loop_scope="session")
async def lenient_client(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """Like `client`, but an unhandled error comes back as the 500 a real caller would see, so a test can
    report it next to the other failures instead of stopping at the first."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest_asyncio.fixture(loop_scope="session")
async def context(app: FastAPI, client: httpx.AsyncClient) -> Context:
    user = await signed_in_user(app, client)
    admin = await signed_in_user(app, client, role=Role.ADMIN)
    target = await create_user(app, email="target@example.com")
    conversation = await client.post(f"{API}/conversations", json={"title": "Mine"}, headers=user.headers)
    assert conversation.status_code == 201, conversation.text
    return Context(
        headers={"anonymous": {}, "user": user.headers, "admin": admin.headers},
        values={
            "email": user.email,
            "refresh_token": user.refresh_token,
            "user_id": str(target),
            "conversation_id": conversation.json()["id"],
        },
    )


async def send_all(
    http: httpx.AsyncClient, method: str, path: str, cases: list[BadRequest], headers: dict[str, str]
) -> list[str]:
    """Send every case; return a line per case whose answer was not a 4xx problem+json of the expected status."""
    failures = []
    for case in cases:
        kwargs = case.send_kwargs()
        kwargs["headers"] = {**headers, **kwargs.get("headers", {})}
        response = await http.request(method, path, **kwargs)
        try:
            assert response.status_code in case.expect, f"status {response.status_code}"
            assert_problem(response, response.status_code)
            assert LONG not in response.text, "the 10,000-char input is echoed back"
        except AssertionError as exc:
            failures.append(f"{case.label}: {str(exc).splitlines()[0]} | {response.text[:160]}")
    return failures


async def _snapshot(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> Any:
    response = await http.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


class TestBadBodies:
    @pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.id)
    async def test_every_bad_field_and_body_is_refused(self, route: Route, lenient_client, context):
        headers = context.headers[route.caller]
        state_url = context.fill(route.state) if route.state else None
        before = await _snapshot(lenient_client, state_url, headers) if state_url else None

        cases = body_cases(route, context.fill_body(route.valid))
        failures = await send_all(lenient_client, route.method, context.fill(route.path), cases, headers)

        if state_url and await _snapshot(lenient_client, state_url, headers) != before:
            failures.append(f"refused requests changed what GET {state_url} shows")
        assert not failures, f"{route.id}: {len(failures)} problem(s) out of {len(cases)} bad inputs:\n" + "\n".join(
            failures
        )

    async def test_malformed_sign_ins_do_not_lock_the_account(self, lenient_client, context):
        login = next(route for route in ROUTES if route.path.endswith("/auth/login"))
        valid = context.fill_body(login.valid)
        await send_all(lenient_client, "POST", login.path, body_cases(login, valid), {})
        assert (await lenient_client.post(login.path, json=valid)).status_code == 200

    async def test_the_valid_bodies_used_above_are_accepted(self, lenient_client, context):
        """Guards the table: each route's `valid` body really works, so the 422s above are about the bad part."""
        # Signing out ends the session the other routes use: it goes last.
        for route in sorted(ROUTES, key=lambda route: route.path.endswith("/auth/logout")):
            response = await lenient_client.request(
                route.method,
                context.fill(route.path),
                json=context.fill_body(route.valid),
                headers=context.headers[route.caller],
            )
            assert response.is_success, f"{route.id}: {response.status_code} {response.text}"


class TestProfileCannotGrantItselfPrivileges:
    @pytest.mark.parametrize(
        "body",
        [
            {"role": "admin"},
            {"is_active": False},
            {"subscription_tier": "enterprise"},
            {"full_name": "Sneaky", "role": "admin"},
        ],
        ids=["role", "is_active", "subscription_tier", "name plus role"],
    )
    async def test_privileged_fields_are_refused_and_nothing_changes(self, body, client, app):
        me = await signed_in_user(app, client)
        before = (await client.get(f"{API}/users/me", headers=me.headers)).json()

        assert_problem(await client.patch(f"{API}/users/me", json=body, headers=me.headers), 422)

        after = await client.get(f"{API}/users/me", headers=me.headers)
        assert after.status_code == 200
        assert after.json() == before
        assert after.json()["role"] == "user" and after.json()["is_active"] is True
        assert after.json()["subscription_tier"] == "free" and after.json()["full_name"] is None


NOT_UUIDS = ["not-a-uuid", "12345", "00000000-0000-0000-0000-00000000000g", "' OR '1'='1"]


PATH_ID_ROUTES = [
    ("GET", f"{API}/conversations/{{}}", "user", None),
    ("PATCH", f"{API}/conversations/{{}}", "user", {"title": "x"}),
    ("DELETE", f"{API}/conversations/{{}}", "user", None),
    ("DELETE", f"{API}/users/me/api-keys/{{}}", "user", None),
    ("PATCH", f"{API}/admin/users/{{}}", "admin", {"subscription_tier": "pro"}),
    ("POST", f"{API}/admin/users/{{}}/suspend", "admin", None),
    ("POST", f"{API}/admin/users/{{}}/unsuspend", "admin", None),
    ("GET", f"{API}/files/{{}}", "user", None),
    ("GET", f"{API}/files/{{}}/content", "user", None),
    ("DELETE", f"{API}/files/{{}}", "user", None),
    ("GET", f"{API}/knowledge-bases/{{}}", "user", None),
    ("PATCH", f"{API}/knowledge-bases/{{}}", "user", {"name": "x"}),
    ("DELETE", f"{API}/knowledge-bases/{{}}", "user", None),
    ("GET", f"{API}/knowledge-bases/{{}}/files", "user", None),
    ("POST", f"{API}/knowledge-bases/{{}}/files", "user", {"file_id": str(uuid.UUID(int=1))}),
    ("DELETE", f"{API}/knowledge-bases/{{}}/files/{uuid.UUID(int=1)}", "user", None),
    ("DELETE", f"{API}/knowledge-bases/{uuid.UUID(int=1)}/files/{{}}", "user", None),
    ("GET", f"{API}/knowledge-bases/{{}}/grants", "user", None),
    ("POST", f"{API}/knowledge-bases/{{}}/grants", "user", {"role": "user"}),
    ("DELETE", f"{API}/knowledge-bases/{{}}/grants/{uuid.UUID(int=1)}", "user", None),
    ("DELETE", f"{API}/knowledge-bases/{uuid.UUID(int=1)}/grants/{{}}", "user", None),
    ("GET", f"{API}/conversations/{{}}/knowledge-bases", "user", None),
    ("PUT", f"{API}/conversations/{{}}/knowledge-bases/{uuid.UUID(int=1)}", "user", None),
    ("PUT", f"{API}/conversations/{uuid.UUID(int=1)}/knowledge-bases/{{}}", "user", None),
    ("DELETE", f"{API}/conversations/{{}}/knowledge-bases/{uuid.UUID(int=1)}", "user", None),
]


class TestInvalidPathIds:
    @pytest.mark.parametrize(
        ("method", "path", "caller", "body"),
        PATH_ID_ROUTES,
        ids=[f"{method} {path.format('{id}')}" for method, path, _, _ in PATH_ID_ROUTES],
    )
    async def test_a_malformed_id_is_422(self, method, path, caller, body, lenient_client, context):
        failures = []
        for bad_id in NOT_UUIDS:
            response = await lenient_client.request(
                method, path.format(bad_id), json=body, headers=context.headers[caller]
            )
            try:
                body_of_problem = assert_problem(response, 422)
                assert body_of_problem["errors"][0]["loc"][0] == "path", body_of_problem
            except AssertionError as exc:
                failures.append(f"{bad_id!r}: {str(exc).splitlines()[0]}")
        assert not failures, "\n".join(failures)


# What each forged cursor decodes to, for failure messages.
_CURSOR_SOURCES: dict[str, str] = {}


def _forged_cursor(raw: str) -> dict[str, str]:
    """A `cursor` query parameter encoded the way the server encodes its own, around arbitrary content."""
    encoded = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    _CURSOR_SOURCES[encoded] = raw
    return {"cursor": encoded}


def _describe(params: dict[str, str]) -> str:
    """Query parameters as a reader wants them in a failure: long values shortened, forged cursors decoded."""
    shown = {
        name: value if len(value) <= 40 else f"{value[:12]}…({len(value)} chars)" for name, value in params.items()
    }
    if params.get("cursor") in _CURSOR_SOURCES:
        shown["cursor"] = f"base64({_CURSOR_SOURCES[params['cursor']]})"
    return str(shown)


SOME_ID = str(uuid.UUID(int=0))
QUERY_CASES: dict[str, tuple[str, list[dict[str, str]]]] = {
    "admin users": (
        f"{API}/admin/users",
        [
            {"page": "0"},
            {"page": "-1"},
            {"page": "abc"},
            {"page": "100001"},
            {"page_size": "0"},
            {"page_size": "10000"},
            {"q": "q" * 201},
            {"role": "superuser"},
            {"is_active": "maybe"},
            # PostgreSQL text cannot hold NUL: refused like in a body, never a database error.
            {"q": "a\x00b"},
        ],
    ),
    "audit events": (
        f"{API}/admin/audit-events",
        [
            {"page": "0"},
            {"page_size": "10000"},
            {"actor_id": "not-a-uuid"},
            {"since": "yesterday"},
            {"since": "2024-01-01T00:00:00"},  # no time zone: ambiguous, refused
            {"until": "31/12/2024"},
            {"action": "a" * 65},
            {"target_id": "t" * 65},
            {"action": "a\x00b"},
            {"target_id": "a\x00b"},
        ],
    ),
    "groups": (f"{API}/groups", [{"q": "a\x00b"}, {"limit": "abc"}]),
    "admin groups": (f"{API}/admin/groups", [{"q": "a\x00b"}]),
    "conversations": (
        f"{API}/conversations",
        [
            {"limit": "0"},
            {"limit": "101"},
            {"limit": "10000"},
            {"limit": "abc"},
            {"q": "q" * 201},
            {"q": "a\x00b"},
            {"archived": "maybe"},
            {"cursor": "!!!"},
            {"cursor": "c" * 201},
            _forged_cursor("this is not json"),
            _forged_cursor('{"garbage": true}'),
            _forged_cursor("[1, 2]"),
            _forged_cursor("5"),
            _forged_cursor(f'["2024-01-01T00:00:00", "{SOME_ID}"]'),  # no time zone
            _forged_cursor('["2024-01-01T00:00:00+00:00", 5]'),  # id is a number
            _forged_cursor('["2024-01-01T00:00:00+00:00", ["x"]]'),  # id is a list
            _forged_cursor(f'["0001-01-01T00:00:00+05:00", "{SOME_ID}"]'),  # before year 1 once in UTC
            _forged_cursor(f'["9999-12-31T23:59:59-05:00", "{SOME_ID}"]'),  # after year 9999 once in UTC
        ],
    ),
    "files": (
        f"{API}/files",
        [
            {"limit": "0"},
            {"limit": "101"},
            {"limit": "abc"},
            {"status": "exploded"},
            {"conversation_id": "not-a-uuid"},
            {"cursor": "!!!"},
            {"cursor": "c" * 201},
            _forged_cursor('{"garbage": true}'),
            _forged_cursor(f'["2024-01-01T00:00:00", "{SOME_ID}"]'),
        ],
    ),
    "knowledge bases": (
        f"{API}/knowledge-bases",
        [
            {"limit": "0"},
            {"limit": "101"},
            {"limit": "abc"},
            {"cursor": "!!!"},
            {"cursor": "c" * 201},
            _forged_cursor('{"garbage": true}'),
            _forged_cursor(f'["2024-01-01T00:00:00", "{SOME_ID}"]'),
        ],
    ),
}


class TestInvalidQueryParameters:
    @pytest.mark.parametrize("name", list(QUERY_CASES))
    async def test_each_bad_parameter_is_422(self, name, lenient_client, context):
        path, cases = QUERY_CASES[name]
        caller = "admin" if "/admin/" in path else "user"
        failures = []
        for params in cases:
            response = await lenient_client.get(path, params=params, headers=context.headers[caller])
            try:
                assert_problem(response, 422)
            except AssertionError as exc:
                failures.append(f"{_describe(params)}: {str(exc).splitlines()[0][:160]}")
        assert not failures, f"{name}: {len(failures)} bad parameter(s) not refused with 422:\n" + "\n".join(failures)


UPLOAD_CASES: list[tuple[str, dict[str, Any]]] = [
    ("JSON body", {"json": {"file": "abc"}}),
    ("form-encoded body", {"data": {"file": "abc"}}),
    ("no file part", {"files": {"other": ("a.txt", b"a")}}),
    ("file as a text field", {"files": {"file": (None, b"abc")}}),
    ("unknown field", {"files": {"file": ("a.txt", b"a")}, "data": {"surprise": "1"}}),
    ("conversation_id: not a uuid", {"files": {"file": ("a.txt", b"a")}, "data": {"conversation_id": "nope"}}),
    ("conversation_id: 10,000 chars", {"files": {"file": ("a.txt", b"a")}, "data": {"conversation_id": LONG}}),
    ("conversation_id: NUL", {"files": {"file": ("a.txt", b"a")}, "data": {"conversation_id": "a\x00b"}}),
    ("knowledge_base_id: number", {"files": {"file": ("a.txt", b"a")}, "data": {"knowledge_base_id": "12345"}}),
    ("file: empty", {"files": {"file": ("a.txt", b"")}}),
    ("file: NUL in text", {"files": {"file": ("a.txt", b"a\x00b")}}),
    ("file: invalid JSON", {"files": {"file": ("a.json", b"{")}}),
]


class TestBadUploads:
    """The upload takes multipart/form-data, so its bad inputs are listed here rather than derived from ROUTES."""

    async def test_every_bad_upload_is_a_4xx_problem_and_nothing_is_kept(self, lenient_client, context):
        headers = context.headers["user"]
        failures = []
        for label, kwargs in UPLOAD_CASES:
            response = await lenient_client.post(f"{API}/chat/upload", headers=headers, **kwargs)
            try:
                assert 400 <= response.status_code < 500, f"status {response.status_code}"
                assert_problem(response, response.status_code)
                assert LONG not in response.text, "the 10,000-char input is echoed back"
            except AssertionError as exc:
                failures.append(f"{label}: {str(exc).splitlines()[0]} | {response.text[:160]}")
        listed = await _snapshot(lenient_client, f"{API}/files", headers)
        if listed["items"]:
            failures.append(f"refused uploads were kept: {listed['items']}")
        assert not failures, "\n".join(failures)
