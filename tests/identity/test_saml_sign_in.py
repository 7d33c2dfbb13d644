"""SAML 2.0 sign-in against a real IdP (pysaml2's IdP side): Parley's SP metadata, sign-ins started at Parley and
at the IdP, accounts created just in time, the role and groups from the assertion's attributes, and the tokens
handed over the way password sign-in does."""

# The fixtures are imported from saml_fixtures (tests/identity/conftest.py belongs to the OIDC tests).
# ruff: noqa: F811

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from parley.auth.permissions import Role
from parley.models import AuditEvent, Group, GroupMember
from tests.factories import PASSWORD, create_user
from tests.identity.saml_fixtures import (  # noqa: F401
    SamlParley,
    metadata_server,
    other_idp,
    saml,
    saml_idp,
    saml_parley_session,
)
from tests.identity.saml_idp import SamlUser


def _user(domain: str = "example.test", groups: list[str] | None = None) -> SamlUser:
    login = f"user-{uuid.uuid4().hex[:8]}"
    return SamlUser(login=login, email=f"{login}@{domain}", name="Sam Lee", groups=groups or [])


def assert_signed_in(response: httpx.Response) -> None:
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/chat"
    assert "parley_refresh=" in response.headers.get("set-cookie", "")


async def me(http: httpx.AsyncClient) -> dict[str, Any]:
    """What the web app does after the ACS: trade the refresh cookie for an access token, then read the user."""
    refreshed = await http.post("/api/v1/auth/refresh")
    assert refreshed.status_code == 200, refreshed.text
    token = refreshed.json()["access_token"]
    answer = await http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


class TestMetadata:
    async def test_the_sp_metadata_names_parleys_entity_acs_and_certificate_and_stays_the_same(
        self, saml: SamlParley
    ) -> None:
        async with saml.browser() as http:
            first = await http.get("/api/v1/auth/saml/test/metadata")
            second = await http.get("/api/v1/auth/saml/test/metadata")
            unknown = await http.get("/api/v1/auth/saml/nobody/metadata")
        assert first.status_code == 200
        assert first.headers["content-type"].startswith("application/samlmetadata+xml")
        entity_id, acs = saml.sp_urls("test")
        assert f'entityID="{entity_id}"' in first.text
        assert f'Location="{acs}"' in first.text
        assert "X509Certificate" in first.text
        assert first.text == second.text
        assert unknown.status_code == 404

    async def test_the_key_pair_is_generated_once_into_the_data_dir(self, saml: SamlParley) -> None:
        data_dir = saml.app.state.settings.resolved_data_dir
        key = (data_dir / "saml" / "sp-key.pem").read_text()
        assert "PRIVATE KEY" in key
        assert (data_dir / "saml" / "sp-key.pem").stat().st_mode & 0o077 == 0


class TestSpInitiated:
    async def test_a_new_user_signs_in_from_parley_and_gets_an_account_and_a_working_session(
        self, saml: SamlParley
    ) -> None:
        user = _user()
        async with saml.browser() as http:
            request_id = await saml.start(http)
            assert_signed_in(await saml.post(http, saml.response(user, in_response_to=request_id)))
            profile = await me(http)
        assert profile["email"] == user.email
        assert profile["full_name"] == "Sam Lee"
        assert profile["role"] == "user"
        assert await saml.failure_codes() == []
        async with saml.database().session() as session:
            logins = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login")))
            created = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.sso_user_create")))
        assert [event.details.get("method") for event in logins] == ["saml"]
        assert [event.details for event in created] == [{"kind": "saml", "provider": "test"}]

    async def test_an_openid_provider_signed_in_with_before_is_forgotten_for_signing_out(
        self, saml: SamlParley
    ) -> None:
        async with saml.browser() as http:
            http.cookies.set("parley_sso_provider", "test", domain="127.0.0.1", path="/api/v1/auth")
            signed_in = await saml.post(http, saml.response(_user()))
            assert_signed_in(signed_in)
            # Forgotten: the web app's sign-out (/api/v1/auth/oidc/logout) then ends only the Parley session.
            assert "parley_sso_provider" not in http.cookies

    async def test_the_next_sign_in_reaches_the_same_account(self, saml: SamlParley) -> None:
        user = _user()
        async with saml.browser() as http:
            assert_signed_in(await saml.post(http, saml.response(user, in_response_to=await saml.start(http))))
            first = (await me(http))["id"]
        async with saml.browser() as http:
            assert_signed_in(await saml.post(http, saml.response(user, in_response_to=await saml.start(http))))
            assert (await me(http))["id"] == first

    async def test_a_response_signed_as_a_whole_is_accepted(self, saml: SamlParley) -> None:
        user = _user()
        async with saml.browser() as http:
            request_id = await saml.start(http)
            xml = saml.response(user, in_response_to=request_id, sign_assertion=False, sign_response=True)
            assert_signed_in(await saml.post(http, xml))

    async def test_an_assertion_encrypted_for_parleys_certificate_is_decrypted(self, saml: SamlParley) -> None:
        user = _user()
        async with saml.browser() as http:
            certificate = _certificate_of(await http.get("/api/v1/auth/saml/test/metadata"))
            request_id = await saml.start(http)
            xml = saml.response(
                user,
                in_response_to=request_id,
                sign_assertion=True,
                encrypt_assertion=True,
                encrypt_cert_assertion=certificate,
            )
            assert "EncryptedAssertion" in xml and user.email not in xml
            assert_signed_in(await saml.post(http, xml))
            assert (await me(http))["email"] == user.email

    async def test_a_request_is_answered_once(self, saml: SamlParley) -> None:
        user = _user()
        async with saml.browser() as http:
            request_id = await saml.start(http)
            assert_signed_in(await saml.post(http, saml.response(user, in_response_to=request_id)))
            again = await saml.post(http, saml.response(user, in_response_to=request_id))
        assert again.headers["location"] == "/signin?sso_error=state_invalid"
        assert await saml.failure_codes() == ["state_invalid"]

    async def test_an_address_outside_the_allowed_domains_is_refused(self, saml: SamlParley) -> None:
        outsider, insider = _user("example.test"), _user("corp.test")
        async with saml.browser() as http:
            refused = await saml.post(
                http,
                saml.response(outsider, idp="strict", in_response_to=await saml.start(http, idp="strict")),
                idp="strict",
            )
            assert refused.headers["location"] == "/signin?sso_error=domain_not_allowed"
            accepted = await saml.post(
                http,
                saml.response(insider, idp="strict", in_response_to=await saml.start(http, idp="strict")),
                idp="strict",
            )
            assert_signed_in(accepted)
        assert await saml.user(outsider.email) is None


class TestSignedRequests:
    async def test_an_idp_that_wants_signed_requests_gets_them_and_checks_them(self, saml: SamlParley) -> None:
        async with saml.browser() as http:
            metadata = (await http.get("/api/v1/auth/saml/strict/metadata")).text
            login = await http.get("/api/v1/auth/saml/strict/login")
        assert 'AuthnRequestsSigned="true"' in metadata
        query = parse_qs(urlsplit(login.headers["location"]).query)
        assert query["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
        assert saml.idp.read_request(login.headers["location"]).id
        # The IdP verified the signature: a request whose signature does not match is refused there.
        forged = login.headers["location"].replace("Signature=", "Signature=AAAA")
        with pytest.raises(Exception, match=r"(?i)signature"):
            saml.idp.read_request(forged)


class TestIdpInitiated:
    async def test_a_sign_in_started_at_the_idp_signs_in(self, saml: SamlParley) -> None:
        user = _user()
        async with saml.browser() as http:
            assert_signed_in(await saml.post(http, saml.response(user)))
            assert (await me(http))["email"] == user.email

    async def test_an_idp_whose_settings_refuse_idp_initiated_sign_ins_is_sent_to_parley_first(
        self, saml: SamlParley
    ) -> None:
        user = _user("corp.test")
        async with saml.browser() as http:
            refused = await saml.post(http, saml.response(user, idp="strict"), idp="strict")
        assert refused.headers["location"] == "/signin?sso_error=unsolicited_response"
        assert await saml.user(user.email) is None
        assert await saml.failure_codes() == ["unsolicited_response"]


class TestRoleAndGroups:
    async def test_a_member_of_the_admin_group_is_an_admin_and_stops_being_one_when_removed(
        self, saml: SamlParley
    ) -> None:
        user = _user(groups=["parley-admins", "Finance"])
        async with saml.browser() as http:
            assert_signed_in(await saml.post(http, saml.response(user)))
            assert (await me(http))["role"] == "admin"
        user.groups = ["Finance"]
        async with saml.browser() as http:
            assert_signed_in(await saml.post(http, saml.response(user)))
            assert (await me(http))["role"] == "user"

    async def test_a_group_named_in_role_groups_gives_its_custom_role(self, saml: SamlParley) -> None:
        await create_user(saml.app, email="roles-admin@example.test", role=Role.ADMIN)
        async with saml.browser() as http:
            signed_in = await http.post(
                "/api/v1/auth/login", json={"email": "roles-admin@example.test", "password": PASSWORD}
            )
            admin = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
            everyday = ["profile:read", "conversations:read", "conversations:write", "chat"]
            role = {"name": "auditor", "description": "Reads the audit log", "permissions": [*everyday, "admin:audit"]}
            made = await http.post("/api/v1/admin/roles", json=role, headers=admin)
            assert made.status_code == 201, made.text
        user = _user(groups=["Auditors"])
        async with saml.browser() as http:
            assert_signed_in(await saml.post(http, saml.response(user)))
            profile = await me(http)
        assert profile["role"] == "auditor"
        assert "admin:audit" in profile["permissions"] and "admin:users" not in profile["permissions"]

    async def test_groups_follow_the_assertion(self, saml: SamlParley) -> None:
        user = _user(groups=["Finance", "Sales"])
        async with saml.browser() as http:
            assert_signed_in(await saml.post(http, saml.response(user)))
        assert await _groups_of(saml, user.email) == {"Finance", "Sales"}
        user.groups = ["Finance", "Legal"]
        async with saml.browser() as http:
            assert_signed_in(await saml.post(http, saml.response(user)))
        assert await _groups_of(saml, user.email) == {"Finance", "Legal"}


async def _groups_of(saml: SamlParley, email: str) -> set[str]:
    account = await saml.user(email)
    assert account is not None
    async with saml.database().session() as session:
        names = await session.scalars(
            select(Group.name)
            .join(GroupMember, GroupMember.group_id == Group.id)
            .where(GroupMember.user_id == account.id)
        )
        return set(names)


class TestMetadataFromUrl:
    async def test_an_idp_known_by_its_metadata_url_signs_in(self, saml: SamlParley) -> None:
        user = _user()
        async with saml.browser() as http:
            request_id = await saml.start(http, idp="remote")
            answer = await saml.post(http, saml.response(user, idp="remote", in_response_to=request_id), idp="remote")
            assert_signed_in(answer)

    async def test_an_idp_whose_metadata_cannot_be_fetched_ends_on_the_sign_in_page_with_the_reason(
        self, saml: SamlParley
    ) -> None:
        async with saml.browser() as http:
            login = await http.get("/api/v1/auth/saml/down/login")
            assert login.status_code == 303
            assert login.headers["location"] == "/signin?sso_error=provider_unavailable"
            as_json = await http.get("/api/v1/auth/saml/down/login", headers={"Accept": "application/json"})
            assert as_json.status_code == 503
            assert as_json.json()["type"].endswith("/provider_unavailable")
            metadata = await http.get("/api/v1/auth/saml/down/metadata")
            assert metadata.status_code == 503
        assert await saml.failure_codes() == ["provider_unavailable", "provider_unavailable"]


def _certificate_of(metadata: httpx.Response) -> str:
    """The certificate Parley publishes in its SP metadata (what an IdP encrypts assertions with)."""
    found = re.search(r"<ns\d+:X509Certificate>([^<]+)</ns\d+:X509Certificate>", metadata.text)
    assert found is not None, metadata.text
    return found.group(1)
