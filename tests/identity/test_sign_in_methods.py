"""Which sign-in methods are offered, password sign-in turned off but for a break-glass admin, and signing out
at the provider too (RP-initiated logout)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from parley.auth.permissions import Role
from parley.config import AuthSettings
from tests.factories import PASSWORD, assert_problem, create_user
from tests.identity.conftest import OidcParley
from tests.identity.helpers import assert_signed_in, audit_events, sign_in_through, unique


class TestProviders:
    async def test_the_public_list_names_password_and_each_provider(self, oidc: OidcParley) -> None:
        async with oidc.browser() as http:
            answer = await http.get(f"{oidc.url}/api/v1/auth/providers")
        assert answer.status_code == 200
        assert answer.json() == {
            "methods": [
                {"kind": "password", "id": "password", "display_name": "Email and password", "login_url": None},
                {
                    "kind": "oidc",
                    "id": "test",
                    "display_name": "Test IdP",
                    "login_url": "/api/v1/auth/oidc/test/login",
                },
                {
                    "kind": "oidc",
                    "id": "corp",
                    "display_name": "Corp SSO",
                    "login_url": "/api/v1/auth/oidc/corp/login",
                },
                {
                    "kind": "oidc",
                    "id": "down",
                    "display_name": "Down IdP",
                    "login_url": "/api/v1/auth/oidc/down/login",
                },
            ],
            "break_glass_password": False,
        }

    async def test_the_login_route_sends_the_browser_to_the_provider_with_pkce_state_and_nonce(
        self, oidc: OidcParley
    ) -> None:
        async with oidc.browser() as http:
            answer = await http.get(f"{oidc.url}/api/v1/auth/oidc/test/login")
        assert answer.status_code == 302
        target = urlsplit(answer.headers["location"])
        query = {key: values[0] for key, values in parse_qs(target.query).items()}
        assert f"{target.scheme}://{target.netloc}" == oidc.op.issuer
        assert query["response_type"] == "code"
        assert query["client_id"] == "parley-test"
        assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
        assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
        assert query["redirect_uri"] == f"{oidc.url}/api/v1/auth/oidc/test/callback"
        assert "code_verifier" not in query

    async def test_a_provider_that_cannot_be_reached_ends_on_the_sign_in_page_with_the_reason(
        self, oidc: OidcParley
    ) -> None:
        async with oidc.browser() as http:
            answer = await http.get(f"{oidc.url}/api/v1/auth/oidc/down/login")
            assert answer.status_code == 303
            assert answer.headers["location"] == "/signin?sso_error=provider_unavailable"
            as_json = await http.get(f"{oidc.url}/api/v1/auth/oidc/down/login", headers={"Accept": "application/json"})
        assert_problem(as_json, 503)
        failures = await audit_events(oidc, "auth.sso_login_failed")
        assert [event.details["code"] for event in failures] == ["provider_unavailable"] * 2


@pytest.fixture
def password_off(oidc: OidcParley) -> Iterator[str]:
    """Password sign-in off for everyone but the break-glass admin (whose email this yields)."""
    auth: AuthSettings = oidc.app.state.settings.auth
    assert auth is oidc.app.state.security.settings
    break_glass = f"{unique('break-glass')}@example.test"
    auth.password_login_enabled, auth.break_glass_email = False, break_glass
    try:
        yield break_glass
    finally:
        auth.password_login_enabled, auth.break_glass_email = True, None


class TestPasswordSignInOff:
    async def test_only_the_break_glass_admin_signs_in_with_a_password(
        self, oidc: OidcParley, password_off: str
    ) -> None:
        employee = f"{unique('employee')}@example.test"
        await create_user(oidc.app, email=employee)
        await create_user(oidc.app, email=password_off, role=Role.ADMIN)
        async with oidc.browser() as http:
            refused = await http.post(f"{oidc.url}/api/v1/auth/login", json={"email": employee, "password": PASSWORD})
            assert_problem(refused, 403)
            allowed = await http.post(
                f"{oidc.url}/api/v1/auth/login", json={"email": password_off.upper(), "password": PASSWORD}
            )
            assert allowed.status_code == 200, allowed.text
            registering = await http.post(
                f"{oidc.url}/api/v1/auth/register",
                json={"email": f"{unique('new')}@example.com", "password": "a-long-enough-password"},
            )
            assert_problem(registering, 403)
            methods = (await http.get(f"{oidc.url}/api/v1/auth/providers")).json()
        assert [method["kind"] for method in methods["methods"]] == ["oidc", "oidc", "oidc"]
        assert methods["break_glass_password"] is True

    async def test_single_sign_on_still_works(self, oidc: OidcParley, password_off: str) -> None:
        login = unique("sso-only")
        oidc.op.add_user(login, email=f"{login}@example.test", email_verified=True)
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "test", login))


class TestSignOut:
    async def test_signing_out_ends_the_session_and_sends_the_browser_to_the_providers_sign_out(
        self, oidc: OidcParley
    ) -> None:
        login = unique("leaving")
        oidc.op.add_user(login, email=f"{login}@example.test", email_verified=True)
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "test", login))
            refresh_token = http.cookies.get("parley_refresh")
            answer = await http.get(f"{oidc.url}/api/v1/auth/oidc/logout")
            assert answer.status_code == 303
            target = urlsplit(answer.headers["location"])
            assert f"{target.scheme}://{target.netloc}{target.path}" == f"{oidc.op.issuer}/session/end"
            assert parse_qs(target.query) == {
                "client_id": ["parley-test"],
                "post_logout_redirect_uri": [f"{oidc.url}/signin"],
            }
            # The provider accepts it (a registered post-logout URI) and shows its sign-out confirmation.
            at_provider = await http.get(answer.headers["location"])
            assert at_provider.status_code == 200, at_provider.text
            # The session is over here: its refresh token no longer works.
            reused = await http.post(f"{oidc.url}/api/v1/auth/refresh", json={"refresh_token": refresh_token})
            assert reused.status_code == 401

    async def test_a_password_session_signs_out_to_the_sign_in_page(self, oidc: OidcParley) -> None:
        email = f"{unique('pw')}@example.test"
        await create_user(oidc.app, email=email)
        async with oidc.browser() as http:
            signed_in = await http.post(f"{oidc.url}/api/v1/auth/login", json={"email": email, "password": PASSWORD})
            assert signed_in.status_code == 200
            answer = await http.get(f"{oidc.url}/api/v1/auth/oidc/logout")
            assert answer.status_code == 303 and answer.headers["location"] == "/signin"
            again = await http.post(f"{oidc.url}/api/v1/auth/refresh")
            assert again.status_code == 401
