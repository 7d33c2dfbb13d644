"""The web app loads in Chromium with its scripts and styles compressed and, with a CDN base URL, from the CDN.

The "CDN" is the same Parley under another origin (http://localhost:<port> for a page at http://127.0.0.1:<port>):
the browser treats it as a different site, so the Content-Security-Policy and the CORS of module scripts are
exercised as with a real CDN that pulls /assets/ from Parley.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Response, expect

from tests.e2e.conftest import served_parley
from tests.e2e.ui import new_email, register_by_api, sign_in
from tests.servers import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cdn_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, cdn_port: int) -> Iterator[str]:
    with served_parley(
        tmp_path_factory.mktemp("e2e-cdn"),
        cdn_port,
        PARLEY_WEB__CDN_URL=f"http://localhost:{cdn_port}",
        PARLEY_AUTH__ARGON2_TIME_COST="1",
        PARLEY_AUTH__ARGON2_MEMORY_COST_KIB="1024",
        PARLEY_AUTH__ARGON2_PARALLELISM="1",
    ) as url:
        yield url


def test_the_app_loads_its_compressed_assets_from_the_cdn(page: Page, base_url: str, cdn_port: int) -> None:
    assets: list[Response] = []
    page.on("response", lambda response: assets.append(response) if "/assets/" in response.url else None)
    refused: list[str] = []
    page.on(
        "console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None
    )

    email = new_email("cdn")
    register_by_api(base_url, email)
    sign_in(page, email)
    # The chat screen loads the Markdown chunk on its own (a dynamic import from the entry script).
    page.wait_for_function("() => performance.getEntriesByType('resource').some(e => e.name.includes('/Markdown-'))")
    page.wait_for_load_state("networkidle")

    cdn = f"http://localhost:{cdn_port}/assets/"
    scripts = [response for response in assets if response.url.endswith(".js")]
    assert scripts, "no script was loaded from /assets/"
    assert all(response.url.startswith(cdn) for response in assets), [response.url for response in assets]
    assert any("/Markdown-" in response.url for response in scripts)
    for response in scripts + [response for response in assets if response.url.endswith(".css")]:
        assert response.status == 200, response.url
        # Chromium accepts gzip (and brotli over HTTPS): never the uncompressed bytes.
        assert response.all_headers().get("content-encoding") in ("br", "gzip"), response.url
    assert not refused, refused
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()
