"""Single sign-on in a real browser: the sign-in page offers the provider, the provider's own login and consent
pages (a real OpenID Provider, tests/identity/op) send the browser back signed in, signing out signs out at the
provider too, and a refused sign-in ends on the sign-in page with the reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import served_parley
from tests.identity.op import CLIENT_SECRET, OpenIDProvider, client_config, running_op
from tests.servers import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sso_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, OpenIDProvider]]:
    """A `parley serve` whose only sign-in is single sign-on (password off), and the provider it trusts."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running_op([client_config("parley-e2e", url, ["idp", "partners"])]) as op:
        common = {"issuer": op.issuer, "client_id": "parley-e2e", "client_secret_env": "E2E_OP_SECRET"}
        providers = [
            {"id": "idp", "display_name": "Company SSO", "scopes": ["openid", "email", "profile"], **common},
            {"id": "partners", "display_name": "Partner SSO", "allowed_email_domains": ["partner.test"], **common},
        ]
        with served_parley(
            tmp_path_factory.mktemp("e2e-sso"),
            port,
            E2E_OP_SECRET=CLIENT_SECRET,
            PARLEY_OIDC__PROVIDERS=json.dumps(providers),
            PARLEY_AUTH__PASSWORD_LOGIN_ENABLED="false",
            PARLEY_AUTH__BREAK_GLASS_EMAIL="break-glass@example.com",
        ):
            yield url, op


@pytest.fixture(scope="module")
def base_url(sso_servers: tuple[str, OpenIDProvider]) -> str:
    return sso_servers[0]


def _sign_in_at_provider(page: Page, login: str) -> None:
    """The provider's own pages: its login form, then its consent form."""
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any-password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()


def test_an_employee_signs_in_with_the_company_provider_and_signs_out_there_too(
    page: Page, sso_servers: tuple[str, OpenIDProvider], artifacts: Path
) -> None:
    url, op = sso_servers
    op.add_user("ada", email="ada@company.test", email_verified=True, name="Ada Lovelace")
    page.goto("/signin")
    # Password sign-in is off: no password form, only the providers (and the break-glass link).
    expect(page.get_by_role("link", name="Continue with Company SSO")).to_be_visible()
    expect(page.get_by_role("link", name="Continue with Partner SSO")).to_be_visible()
    expect(page.get_by_label("Password")).to_have_count(0)
    page.screenshot(path=str(artifacts / "sso-sign-in.png"))
    page.get_by_role("link", name="Continue with Company SSO").click()
    _sign_in_at_provider(page, "ada")
    # Back in Parley, signed in: the chat is ready, and no token ever was in the address bar.
    expect(page.get_by_role("textbox", name="Message")).to_be_visible(timeout=20_000)
    assert page.url == f"{url}/chat"
    page.reload()
    expect(page.get_by_role("textbox", name="Message")).to_be_visible(timeout=20_000)

    page.get_by_role("button", name="Sign out").click()
    # The provider asks whether to sign out there too, then sends the browser back to Parley's sign-in page.
    page.get_by_role("button", name="Yes, sign me out").click()
    expect(page.get_by_role("link", name="Continue with Company SSO")).to_be_visible(timeout=20_000)
    assert page.url.startswith(f"{url}/signin")
    page.goto("/chat")
    expect(page.get_by_role("link", name="Continue with Company SSO")).to_be_visible()


def test_a_refused_sign_in_ends_on_the_sign_in_page_with_the_reason(
    page: Page, sso_servers: tuple[str, OpenIDProvider]
) -> None:
    _, op = sso_servers
    op.add_user("eve", email="eve@elsewhere.test", email_verified=True)
    page.goto("/signin")
    page.get_by_role("link", name="Continue with Partner SSO").click()
    _sign_in_at_provider(page, "eve")
    expect(page.get_by_role("alert")).to_have_text("Accounts of your email domain may not sign in here.")
    expect(page.get_by_role("textbox", name="Message")).to_have_count(0)
