"""Each configured SAML IdP is a way to sign in: `GET /api/v1/auth/providers` lists it (kind "saml") with the
URL that starts the sign-in, so the web app's sign-in page shows its button."""

from __future__ import annotations

# The fixtures are imported from saml_fixtures (tests/identity/conftest.py belongs to the OIDC tests).
# ruff: noqa: F811
from tests.identity.saml_fixtures import (  # noqa: F401
    SamlParley,
    metadata_server,
    other_idp,
    saml,
    saml_idp,
    saml_parley_session,
)


class TestSignInMethods:
    async def test_each_saml_idp_is_offered_with_its_login_url(self, saml: SamlParley) -> None:
        async with saml.browser() as http:
            answer = await http.get("/api/v1/auth/providers")
        assert answer.status_code == 200
        offered = {method["id"]: method for method in answer.json()["methods"] if method["kind"] == "saml"}
        assert set(offered) == {"test", "strict", "remote", "down", "federation"}
        assert offered["test"]["display_name"] == "Test SAML"
        assert offered["test"]["login_url"] == "/api/v1/auth/saml/test/login"
