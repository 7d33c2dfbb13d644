"""The web app is served at / with client-side routes, and API paths keep their own errors."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from parley.web.spa import SinglePageApp
from tests.factories import assert_problem


@pytest.fixture
def built(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>Parley</title><div id=root></div>")
    (tmp_path / "assets" / "app-1234.js").write_text("console.log('hi')")
    (tmp_path / "manifest.webmanifest").write_text("{}")
    (tmp_path.parent / "secret.txt").write_text("not for you")
    return tmp_path


async def _get(app: SinglePageApp, path: str, method: str = "GET") -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.request(method, path)


class TestSinglePageApp:
    async def test_client_routes_get_index_with_a_strict_policy(self, built):
        response = await _get(SinglePageApp(built), "/c/1234/settings")
        assert response.status_code == 200 and "<div id=root>" in response.text
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-cache"

    async def test_hashed_assets_are_cached_for_a_year(self, built):
        response = await _get(SinglePageApp(built), "/assets/app-1234.js")
        assert response.status_code == 200 and "immutable" in response.headers["cache-control"]

    @pytest.mark.parametrize("path", ["/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt"])
    async def test_no_path_escapes_the_static_directory(self, built, path):
        response = await _get(SinglePageApp(built), path)
        assert "not for you" not in response.text

    async def test_unbuilt_app_explains_how_to_build(self, tmp_path):
        response = await _get(SinglePageApp(tmp_path), "/")
        assert response.status_code == 200 and "make web" in response.text


class TestApiPathsStayApi:
    async def test_unknown_api_path_is_a_problem_404(self, client):
        assert_problem(await client.get("/api/v1/nope"), 404)
        openai_style = await client.get("/v1/nope")
        assert openai_style.status_code == 404 and openai_style.json()["error"]["type"] == "not_found_error"

    async def test_wrong_method_on_an_api_path_is_405(self, client):
        response = await client.put("/api/v1/users/me")
        assert_problem(response, 405)
        assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "PATCH"}

    async def test_root_serves_the_web_app(self, client):
        response = await client.get("/")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
