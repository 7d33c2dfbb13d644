"""SAML single sign-on in a real browser: the sign-in page offers the IdP, the IdP's pages (pysaml2's IdP side
behind HTTP, tests/identity/saml_idp_http.py, on another site than Parley) post the signed Response back across
sites and the browser lands in the chat signed in, a sign-in started at the IdP's portal does too, and a refused
one ends on the sign-in page with the reason."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import MODELS_YAML, ROOT, STATIC_INDEX, _free_port, _wait_ready
from tests.identity.saml_idp import SamlIdP
from tests.identity.saml_idp_http import serving_idp

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def saml_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A `parley serve` with two SAML entries for one IdP, and the IdP's site; yields both base URLs."""
    if not STATIC_INDEX.is_file():
        pytest.fail(f"The web app is not built ({STATIC_INDEX} is missing): run `make web` first")
    port, idp_port = _free_port(), _free_port()
    url = f"http://127.0.0.1:{port}"
    workdir = tmp_path_factory.mktemp("e2e-saml")
    with serving_idp(workdir, port=idp_port, domain="company.test") as idp:
        models = workdir / "models.yaml"
        models.write_text(MODELS_YAML)
        idps = [
            {"id": "company", "display_name": "Company SAML", "metadata_file": str(idp.metadata_file)},
            {
                "id": "partners",
                "display_name": "Partner SAML",
                "metadata_file": str(idp.metadata_file),
                "allowed_email_domains": ["partner.test"],
            },
        ]
        env = {key: value for key, value in os.environ.items() if not key.startswith("PARLEY_")}
        for key in ("DATABASE_URL", "REDIS_URL"):
            env.pop(key, None)
        env.update(
            PARLEY_SAML__IDPS=json.dumps(idps),
            PARLEY_MODELS=str(models),
            PARLEY_LOG_JSON="false",
            PARLEY_LOG_LEVEL="warning",
            HF_HUB_OFFLINE="1",
        )
        log_path = workdir / "parley.log"
        with log_path.open("wb") as log:
            command = [
                sys.executable,
                "-m",
                "parley",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(workdir / "data"),
            ]
            server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                _wait_ready(url, server, Path(log_path))
                _trust_parley(idp, url, ["company", "partners"])
                yield url, f"http://localhost:{idp_port}"
            finally:
                server.send_signal(signal.SIGINT)
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait(timeout=10)


def _trust_parley(idp: SamlIdP, url: str, entries: list[str]) -> None:
    """What the IdP administrator does: load Parley's SP metadata for each entry."""
    documents = []
    for entry in entries:
        answer = httpx.get(f"{url}/api/v1/auth/saml/{entry}/metadata", timeout=30)
        answer.raise_for_status()
        documents.append(answer.text)
    idp.trust_all(documents)


@pytest.fixture(scope="module")
def base_url(saml_servers: tuple[str, str]) -> str:
    return saml_servers[0]


def _sign_in_at_idp(page: Page, login: str) -> None:
    page.get_by_label("User name").fill(login)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Continue to Parley").click()


def test_an_employee_signs_in_with_the_company_idp(page: Page, saml_servers: tuple[str, str], artifacts: Path) -> None:
    url, _ = saml_servers
    page.goto("/signin")
    expect(page.get_by_role("link", name="Continue with Company SAML")).to_be_visible()
    page.screenshot(path=str(artifacts / "saml-sign-in.png"))
    page.get_by_role("link", name="Continue with Company SAML").click()
    _sign_in_at_idp(page, "grace")
    # Back in Parley across sites (the IdP posted the Response), signed in: the chat is ready.
    expect(page.get_by_role("textbox", name="Message")).to_be_visible(timeout=20_000)
    assert page.url == f"{url}/chat"
    page.reload()
    expect(page.get_by_role("textbox", name="Message")).to_be_visible(timeout=20_000)


def test_a_sign_in_started_at_the_idps_portal_lands_in_the_chat(page: Page, saml_servers: tuple[str, str]) -> None:
    url, idp_url = saml_servers
    acs = f"{url}/api/v1/auth/saml/company/acs"
    page.goto(f"{idp_url}/start?{urlencode({'acs': acs, 'login': 'hopper'})}")
    page.get_by_role("button", name="Continue to Parley").click()
    expect(page.get_by_role("textbox", name="Message")).to_be_visible(timeout=20_000)
    assert page.url == f"{url}/chat"


def test_a_refused_sign_in_ends_on_the_sign_in_page_with_the_reason(page: Page, saml_servers: tuple[str, str]) -> None:
    page.goto("/signin")
    page.get_by_role("link", name="Continue with Partner SAML").click()
    _sign_in_at_idp(page, "eve")
    expect(page.get_by_role("alert")).to_have_text("Accounts of your email domain may not sign in here.")
    expect(page.get_by_role("textbox", name="Message")).to_have_count(0)
