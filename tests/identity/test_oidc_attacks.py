"""What a forged, replayed or tampered OpenID Connect answer gets: refused with the reason on the sign-in page
(or problem+json for a JSON client), no session, an audit row; and the provider's key rotation is followed."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.factories import assert_problem
from tests.identity.conftest import OidcParley
from tests.identity.helpers import (
    assert_refused,
    assert_signed_in,
    audit_events,
    sign_in_through,
    unique,
    user_by_email,
    with_query,
)
from tests.identity.op import authorize


async def _user(oidc: OidcParley) -> str:
    login = unique("user")
    oidc.op.add_user(login, email=f"{login}@example.test", email_verified=True)
    return login


async def _failure_codes(oidc: OidcParley) -> list[str]:
    return [event.details["code"] for event in await audit_events(oidc, "auth.sso_login_failed")]


class TestState:
    async def test_a_wrong_state_is_refused(self, oidc: OidcParley) -> None:
        login = await _user(oidc)
        async with oidc.browser() as http:
            callback = await authorize(http, oidc.url, "test", login)
            assert_refused(await http.get(with_query(callback, state="forged-state")), "state_invalid")
        assert await user_by_email(oidc, f"{login}@example.test") is None
        assert await _failure_codes(oidc) == ["state_invalid"]

    async def test_a_callback_in_another_browser_than_the_one_that_started_is_refused(self, oidc: OidcParley) -> None:
        login = await _user(oidc)
        async with oidc.browser() as victim_browser:
            callback = await authorize(victim_browser, oidc.url, "test", login)
        async with oidc.browser() as other_browser:
            assert_refused(await other_browser.get(callback), "state_invalid")

    async def test_a_replayed_callback_is_refused(self, oidc: OidcParley) -> None:
        login = await _user(oidc)
        async with oidc.browser() as http:
            callback = await authorize(http, oidc.url, "test", login)
            assert_signed_in(await http.get(callback))
            assert_refused(await http.get(callback), "state_invalid")

    async def test_a_replayed_code_in_a_new_sign_in_is_refused_by_the_provider(self, oidc: OidcParley) -> None:
        login = await _user(oidc)
        async with oidc.browser() as http:
            first = await authorize(http, oidc.url, "test", login)
            assert_signed_in(await http.get(first))
            used_code = parse_qs(urlsplit(first).query)["code"][0]
            second = await authorize(http, oidc.url, "test", login)
            assert_refused(await http.get(with_query(second, code=used_code)), "code_rejected")
        assert await _failure_codes(oidc) == ["code_rejected"]

    async def test_garbage_parameters_answer_a_clear_problem_to_a_json_client(self, oidc: OidcParley) -> None:
        async with oidc.browser() as http:
            answer = await http.get(
                f"{oidc.url}/api/v1/auth/oidc/test/callback",
                params={"code": "garbage", "state": "%%%<script>"},
                headers={"Accept": "application/json"},
            )
            body = assert_problem(answer, 400)
            assert body["type"].endswith("/state_invalid")
            # Characters no text may hold are refused before anything runs.
            nul = await http.get(f"{oidc.url}/api/v1/auth/oidc/test/callback", params={"code": "\x00", "state": "s"})
            assert_problem(nul, 422)
            missing = await http.get(f"{oidc.url}/api/v1/auth/oidc/test/callback")
            assert_refused(missing, "state_invalid")
            unknown = await http.get(f"{oidc.url}/api/v1/auth/oidc/nope/login")
            assert_problem(unknown, 404)
        assert await _failure_codes(oidc) == ["state_invalid", "state_invalid"]

    async def test_an_answer_naming_another_issuer_is_refused(self, oidc: OidcParley) -> None:
        login = await _user(oidc)
        async with oidc.browser() as http:
            callback = await authorize(http, oidc.url, "test", login)
            assert_refused(await http.get(with_query(callback, iss="https://evil.example")), "issuer_mismatch")

    async def test_the_provider_saying_no_ends_on_the_sign_in_page(self, oidc: OidcParley) -> None:
        async with oidc.browser() as http:
            login_redirect = await http.get(f"{oidc.url}/api/v1/auth/oidc/test/login")
            state = parse_qs(urlsplit(login_redirect.headers["location"]).query)["state"][0]
            answer = await http.get(
                f"{oidc.url}/api/v1/auth/oidc/test/callback",
                params={"error": "access_denied", "error_description": "End-User aborted interaction", "state": state},
            )
        assert_refused(answer, "provider_error")
        assert await _failure_codes(oidc) == ["provider_error"]


class TestIdToken:
    @pytest.mark.parametrize(
        ("changes", "reason"),
        [
            pytest.param({"nonce": "a-nonce-of-another-sign-in"}, "(nonce)", id="wrong-nonce"),
            pytest.param({"exp_offset": -3600}, "expired", id="expired"),
            pytest.param({"aud": "another-client"}, "'aud'", id="another-audience"),
            pytest.param({"aud": ["another-client", "parley-test"]}, "(azp)", id="shared-audience-without-azp"),
            pytest.param({"iss": "http://127.0.0.1:1"}, "'iss'", id="another-issuer"),
            pytest.param({"sign_with": "rogue", "kid": "key-A"}, "signature", id="wrongly-signed"),
        ],
    )
    async def test_a_bad_id_token_is_refused(self, oidc: OidcParley, changes: dict[str, object], reason: str) -> None:
        login = await _user(oidc)
        oidc.op.alter_id_tokens(**changes)
        async with oidc.browser() as http:
            assert_refused(await sign_in_through(oidc, http, "test", login), "id_token_invalid")
        assert await user_by_email(oidc, f"{login}@example.test") is None
        [failure] = await audit_events(oidc, "auth.sso_login_failed")
        assert failure.details["code"] == "id_token_invalid"
        assert reason in failure.details["reason"], failure.details["reason"]

    async def test_a_rotated_key_is_fetched_once_and_an_unpublished_one_is_refused(self, oidc: OidcParley) -> None:
        login = await _user(oidc)
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "test", login))  # the JWKS (key A) is cached now
        # The provider rotates to key B: the first token signed with it sends Parley back for the JWKS, once.
        oidc.op.publish_keys("A", "B")
        oidc.op.alter_id_tokens(sign_with="B")
        before = oidc.op.jwks_fetches()
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "test", login))
        assert oidc.op.jwks_fetches() == before + 1
        # Known now: no fetch at all.
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "test", login))
        assert oidc.op.jwks_fetches() == before + 1
        # A key the provider never published: one fetch to be sure, then refused.
        oidc.op.alter_id_tokens(sign_with="C")
        async with oidc.browser() as http:
            assert_refused(await sign_in_through(oidc, http, "test", login), "id_token_invalid")
        assert oidc.op.jwks_fetches() == before + 2
