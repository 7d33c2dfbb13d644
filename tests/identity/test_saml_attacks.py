"""What a forged, replayed or tampered SAML Response gets at the ACS: refused with the reason on the sign-in page
(or problem+json for a JSON client), no session, no account, an audit row naming the reason."""

from __future__ import annotations

# The fixtures are imported from saml_fixtures (tests/identity/conftest.py belongs to the OIDC tests).
# ruff: noqa: F811
import base64
import uuid
from datetime import timedelta
from pathlib import Path

import httpx

from tests.factories import assert_problem
from tests.identity.saml_fixtures import (  # noqa: F401
    SamlParley,
    metadata_server,
    other_idp,
    saml,
    saml_idp,
    saml_parley_session,
)
from tests.identity.saml_idp import SamlIdP, SamlUser, shift_times, two_assertions, wrapped


def _user() -> SamlUser:
    login = f"user-{uuid.uuid4().hex[:8]}"
    return SamlUser(login=login, email=f"{login}@example.test")


def assert_refused(response: httpx.Response, code: str) -> None:
    """Back on the sign-in page with the reason, and no session handed over."""
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/signin?sso_error={code}"
    assert "parley_refresh=" not in response.headers.get("set-cookie", "")


async def _refused_without_account(saml: SamlParley, xml: str, code: str, *, emails: list[str]) -> None:
    async with saml.browser() as http:
        assert_refused(await saml.post(http, xml), code)
    for email in emails:
        assert await saml.user(email) is None
    assert await saml.failure_codes() == [code]


class TestSignatures:
    async def test_an_unsigned_assertion_is_refused(self, saml: SamlParley) -> None:
        user = _user()
        xml = saml.response(user, sign_assertion=False, sign_response=False)
        await _refused_without_account(saml, xml, "signature_invalid", emails=[user.email])

    async def test_an_attribute_changed_after_signing_is_refused(self, saml: SamlParley) -> None:
        user, boss = _user(), _user()
        xml = saml.response(user).replace(user.email, boss.email)
        assert boss.email in xml
        await _refused_without_account(saml, xml, "signature_invalid", emails=[user.email, boss.email])

    async def test_a_forged_assertion_wrapped_around_the_signed_one_is_refused(self, saml: SamlParley) -> None:
        user, boss = _user(), _user()
        xml = wrapped(saml.response(user), email=boss.email)
        await _refused_without_account(saml, xml, "signature_invalid", emails=[user.email, boss.email])

    async def test_a_forged_assertion_beside_the_signed_one_is_refused(self, saml: SamlParley) -> None:
        user, boss = _user(), _user()
        xml = two_assertions(saml.response(user), email=boss.email)
        await _refused_without_account(saml, xml, "response_invalid", emails=[user.email, boss.email])

    async def test_a_response_signed_by_another_key_is_refused(self, saml: SamlParley, tmp_path: Path) -> None:
        # Same entity id, its own keys: not the certificate of the IdP's metadata Parley holds.
        impostor = SamlIdP(tmp_path)
        impostor.trust_all(saml.idp.sp_metadata)
        user = _user()
        entity_id, acs = saml.sp_urls("test")
        xml = impostor.response_xml(user, acs_url=acs, sp_entity_id=entity_id, in_response_to=None)
        await _refused_without_account(saml, xml, "signature_invalid", emails=[user.email])


class TestIssuer:
    async def test_another_idp_of_the_same_metadata_is_not_trusted(self, saml: SamlParley, other_idp: SamlIdP) -> None:
        user = _user()
        entity_id, acs = saml.sp_urls("federation")
        # Signed with the other IdP's own key, which the federation's metadata publishes.
        forged = other_idp.response_xml(user, acs_url=acs, sp_entity_id=entity_id, in_response_to=None)
        async with saml.browser() as http:
            assert_refused(await saml.post(http, forged, idp="federation"), "issuer_mismatch")
            genuine = await saml.post(http, saml.response(user, idp="federation"), idp="federation")
            assert genuine.headers["location"] == "/chat"
        assert await saml.failure_codes() == ["issuer_mismatch"]


class TestConditions:
    async def test_an_expired_assertion_is_refused(self, saml: SamlParley) -> None:
        user = _user()
        xml = saml.idp.resign(shift_times(saml.response(user), timedelta(hours=-2)))
        await _refused_without_account(saml, xml, "assertion_expired", emails=[user.email])

    async def test_an_assertion_for_another_service_is_refused(self, saml: SamlParley) -> None:
        user = _user()
        xml = saml.response(user, audience="http://other-sp.test/metadata")
        await _refused_without_account(saml, xml, "audience_mismatch", emails=[user.email])

    async def test_an_assertion_for_another_idp_entry_of_parley_is_refused(self, saml: SamlParley) -> None:
        user = _user()
        # Made for the "strict" entry (its audience and ACS), posted to the "test" one: not its destination.
        xml = saml.response(user, idp="strict")
        async with saml.browser() as http:
            assert_refused(await saml.post(http, xml, idp="test"), "response_invalid")

    async def test_an_answer_to_a_request_parley_never_sent_is_refused(self, saml: SamlParley) -> None:
        user = _user()
        xml = saml.response(user, in_response_to="id-never-sent")
        await _refused_without_account(saml, xml, "state_invalid", emails=[user.email])

    async def test_an_answer_to_another_idp_entrys_request_is_refused(self, saml: SamlParley) -> None:
        user = _user()
        async with saml.browser() as http:
            request_id = await saml.start(http, idp="strict")
            assert_refused(await saml.post(http, saml.response(user, in_response_to=request_id)), "state_invalid")


class TestReplay:
    async def test_the_same_assertion_posted_again_is_refused(self, saml: SamlParley) -> None:
        user = _user()
        xml = saml.response(user)
        async with saml.browser() as http:
            first = await saml.post(http, xml)
            assert first.headers["location"] == "/chat"
        async with saml.browser() as attacker:
            assert_refused(await saml.post(attacker, xml), "assertion_replayed")
        assert await saml.failure_codes() == ["assertion_replayed"]

    async def test_an_assertion_that_was_refused_for_the_account_stays_used(self, saml: SamlParley) -> None:
        user = _user()
        async with saml.browser() as http:
            assert (await saml.post(http, saml.response(user))).headers["location"] == "/chat"
        account = await saml.user(user.email)
        assert account is not None
        async with saml.database().session() as session:
            stored = await session.get(type(account), account.id)
            assert stored is not None
            stored.is_active = False
            await session.commit()
        xml = saml.response(user)
        async with saml.browser() as http:
            assert_refused(await saml.post(http, xml), "account_suspended")
            assert_refused(await saml.post(http, xml), "assertion_replayed")


class TestBadInput:
    async def test_garbage_is_a_clear_400_for_a_json_client_and_the_sign_in_page_for_a_browser(
        self, saml: SamlParley
    ) -> None:
        async with saml.browser() as http:
            for body in ("not base64 at all %%%", base64.b64encode(b"<not-saml/>").decode(), ""):
                answer = await http.post(
                    "/api/v1/auth/saml/test/acs", data={"SAMLResponse": body}, headers={"Accept": "application/json"}
                )
                problem = assert_problem(answer, 400)
                assert problem["type"].endswith("/response_malformed")
            entity = base64.b64encode(b'<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>').decode()
            assert_refused(
                await http.post("/api/v1/auth/saml/test/acs", data={"SAMLResponse": entity}), "response_malformed"
            )
            unknown = await http.post("/api/v1/auth/saml/nobody/acs", data={"SAMLResponse": "x"})
            assert unknown.status_code == 404
        assert await saml.failure_codes() == ["response_malformed"] * 4
