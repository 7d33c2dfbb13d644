"""SAML single sign-on in a real browser: the sign-in page offers the IdP, the IdP's pages (pysaml2's IdP side
behind HTTP, tests/identity/saml_idp_http.py, on another site than Parley) post the signed Response back across
sites and the browser lands in the chat signed in, a sign-in started at the IdP's portal does too, and a refused
one ends on the sign-in page with the reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import served_parley
from tests.identity.saml_idp import SamlIdP
from tests.identity.saml_idp_http import serving_idp
from tests.servers import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def saml_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A `parley serve` with two SAML entries for one IdP, and the IdP's site; yields both base URLs."""
    port, idp_port = free_port(), free_port()
    workdir = tmp_path_factory.mktemp("e2e-saml")
    with serving_idp(workdir, port=idp_port, domain="company.test") as idp:
        idps = [
            {"id": "company", "display_name": "Company SAML", "metadata_file": str(idp.metadata_file)},
            {
                "id": "partners",
                "display_name": "Partner SAML",
                "metadata_file": str(idp.metadata_file),
                "allowed_email_domains": ["partner.test"],
            },
        ]
        with served_parley(workdir, port, PARLEY_SAML__IDPS=json.dumps(idps)) as url:
            _trust_parley(idp, url, ["company", "partners"])
            yield url, f"http://localhost:{idp_port}"


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
