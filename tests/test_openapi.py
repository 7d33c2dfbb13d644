"""The published API contract (/openapi.json) tells client authors the truth about authentication and
errors, and the error handlers answer every failure, even an unexpected one, with problem+json."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from parley.errors import install_error_handlers
from parley.kit.asgi import RequestContextMiddleware
from tests.factories import assert_problem

PROBLEM = "application/problem+json"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def _is_public(path: str) -> bool:
    return not path.startswith(("/api", "/v1/")) or path.startswith("/api/v1/auth/")


def _error_media_type(path: str) -> str:
    # The OpenAI-compatible surface answers errors in OpenAI's JSON shape, which its SDKs understand.
    return "application/json" if path.startswith("/v1/") else PROBLEM


class TestOpenApiDocument:
    async def test_health_endpoints_are_documented(self, client):
        paths = (await _document(client))["paths"]
        assert "get" in paths["/healthz"] and "get" in paths["/readyz"]

    async def test_bearer_scheme_is_declared(self, client):
        schemes = (await _document(client))["components"]["securitySchemes"]
        assert schemes["BearerAuth"]["type"] == "http" and schemes["BearerAuth"]["scheme"] == "bearer"

    async def test_every_authenticated_operation_requires_bearer_auth_and_public_ones_do_not(self, client):
        wrong = []
        operations = _operations(await _document(client))
        assert len([path for _, path, _ in operations if path.startswith("/api")]) >= 16
        for method, path, operation in operations:
            requires_bearer = {"BearerAuth": []} in operation.get("security", [])
            if _is_public(path) and operation.get("security"):
                wrong.append(f"{method} {path}: public but declares {operation['security']}")
            elif not _is_public(path) and not requires_bearer:
                wrong.append(f"{method} {path}: does not declare BearerAuth")
        assert not wrong, "\n".join(wrong)

    async def test_every_operation_documents_its_errors_in_its_surfaces_format(self, client):
        wrong = []
        for method, path, operation in _operations(await _document(client)):
            responses = operation["responses"]
            expected = set()
            if operation.get("requestBody") or operation.get("parameters"):
                expected.add("422")
            if not _is_public(path):
                expected |= {"401", "403"}  # no or bad credentials; suspended account or missing scope
                if "{" in path:
                    expected.add("404")  # the id is unknown or not yours
            if missing := expected - set(responses):
                wrong.append(f"{method} {path}: does not document {sorted(missing)}")
            for status, response in responses.items():
                if status.startswith(("4", "5")) and set(response.get("content", {})) != {_error_media_type(path)}:
                    wrong.append(f"{method} {path}: {status} content is {sorted(response.get('content', {}))}")
        assert not wrong, "\n".join(wrong)

    async def test_problem_schema_names_the_rfc_9457_members(self, client):
        document = await _document(client)
        responses = document["paths"]["/api/v1/users/me"]["get"]["responses"]
        schema = responses["401"]["content"][PROBLEM]["schema"]
        assert {"type", "title", "status", "detail"} <= set(schema["required"])


class TestRoutingErrors:
    # Other unknown paths belong to the web app's client-side routes (tests/web/test_spa.py).
    @pytest.mark.parametrize("path", ["/api/v1/no-such-thing", "/api/nowhere", "/api/v2/users/me"])
    async def test_unknown_api_route_is_404_problem(self, client, path):
        body = assert_problem(await client.get(path), 404)
        assert body["instance"] == path

    @pytest.mark.parametrize(
        ("method", "path", "allowed"),
        [
            ("PUT", "/api/v1/users/me", {"GET", "PATCH"}),
            ("DELETE", "/healthz", {"GET"}),
            ("GET", "/api/v1/auth/login", {"POST"}),
        ],
    )
    async def test_wrong_method_is_405_problem_naming_the_allowed_ones(self, client, method, path, allowed):
        response = await client.request(method, path)
        assert_problem(response, 405)
        assert {m.strip() for m in response.headers["allow"].split(",")} >= allowed


class TestUnexpectedErrors:
    """A bug in a route handler must not show the caller a stack trace or the exception's message (which can
    hold SQL, file paths or secrets); the caller gets a 500 problem with a request id to quote to support."""

    SECRET = "password=hunter2 at /srv/parley/db.py line 42"

    @pytest.fixture
    def broken_app(self) -> FastAPI:
        app = FastAPI()
        install_error_handlers(app)
        app.add_middleware(RequestContextMiddleware)

        @app.get("/boom")
        async def boom() -> None:
            raise RuntimeError(self.SECRET)

        @app.post("/boom-after-body")
        async def boom_after_body(payload: dict[str, int]) -> None:
            raise KeyError(self.SECRET)

        return app

    @pytest.mark.parametrize(("method", "path"), [("GET", "/boom"), ("POST", "/boom-after-body")])
    async def test_500_is_problem_json_without_traceback_or_message(self, broken_app, method, path):
        transport = httpx.ASGITransport(app=broken_app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.request(method, path, json={"a": 1}, headers={"X-Request-ID": "support-ticket-7"})

        body = assert_problem(response, 500)
        for leak in ("Traceback", "hunter2", "/srv/parley", "RuntimeError", "KeyError", 'File "'):
            assert leak not in response.text, leak
        assert body["instance"] == path
        assert body["request_id"] == "support-ticket-7"


class TestInteractiveDocs:
    """/docs and /redoc load nothing from elsewhere: their scripts come from Parley (a pinned package), and a
    policy keeps them from loading or calling anything else."""

    @pytest.mark.parametrize("page", ["/docs", "/redoc"])
    async def test_the_page_and_its_assets_come_from_parley_under_a_strict_policy(self, client, page):
        response = await client.get(page)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "//" not in response.text.replace("<!doctype html>", ""), "the page names another origin"

        policy = dict(
            directive.strip().split(" ", 1) for directive in response.headers["content-security-policy"].split(";")
        )
        assert policy["default-src"] == "'none'"
        assert policy["script-src"] == "'self'"  # no inline script, no CDN
        assert policy["connect-src"] == "'self'" and policy["frame-ancestors"] == "'none'"

        assets = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert any(asset.endswith(".js") for asset in assets)
        for asset in assets:
            loaded = await client.get(f"/{asset}")
            assert loaded.status_code == 200, asset
            assert len(loaded.content) > 0, asset

    async def test_swagger_ui_is_a_version_that_reads_openapi_3_1(self, client):
        """FastAPI describes the API as OpenAPI 3.1, which Swagger UI renders from version 5 on."""
        assert (await _document(client))["openapi"].startswith("3.1")
        bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
        versions = set(re.findall(rb'"(5\.\d+\.\d+)"', bundle.content))
        assert versions, "not Swagger UI 5"

    async def test_only_the_listed_assets_are_served(self, client):
        for name in ("core.py", "consts.py", "__init__.py", "index.html"):
            assert_problem(await client.get(f"/docs/assets/{name}"), 404)
