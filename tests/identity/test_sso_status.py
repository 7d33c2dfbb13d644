"""What administrators see of single sign-on (`GET /api/v1/admin/sso`): each configured provider with the
accounts linked through it, the last sign-in and the groups it keeps in step; only for administrators."""

from __future__ import annotations

import httpx

from parley.auth.permissions import Role
from tests.identity.conftest import OidcParley
from tests.identity.helpers import assert_signed_in, password_token, sign_in_through, unique

SSO = "/api/v1/admin/sso"


async def _status(oidc: OidcParley, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=oidc.url) as http:
        return await http.get(SSO, headers={"Authorization": f"Bearer {token}"})


class TestSSOStatus:
    async def test_an_admin_sees_each_provider_and_what_signing_in_through_it_left(self, oidc: OidcParley) -> None:
        admin = await password_token(oidc, Role.ADMIN)
        before = (await _status(oidc, admin)).json()
        assert before["password_sign_in"] is True and before["break_glass_email"] is None
        providers = {provider["id"]: provider for provider in before["providers"]}
        assert sorted(providers) == ["corp", "down", "test"]
        assert providers["test"]["kind"] == "oidc" and providers["test"]["display_name"] == "Test IdP"
        assert providers["test"]["issuer"] == oidc.op.issuer
        assert providers["test"]["linked_accounts"] == 0 and providers["test"]["last_sign_in_at"] is None

        login = unique("frank")
        oidc.op.add_user(login, email=f"{login}@example.test", email_verified=True, groups=["Finance", "Sales"])
        async with oidc.browser() as http:
            assert_signed_in(await sign_in_through(oidc, http, "test", login))

        after = {provider["id"]: provider for provider in (await _status(oidc, admin)).json()["providers"]}
        assert after["test"]["linked_accounts"] == 1 and after["test"]["last_sign_in_at"] is not None
        assert after["test"]["synced_groups"] == 2
        assert after["corp"]["linked_accounts"] == 0

    async def test_it_is_for_administrators_only(self, oidc: OidcParley) -> None:
        user = await password_token(oidc, Role.USER)
        assert (await _status(oidc, user)).status_code == 403
        async with httpx.AsyncClient(base_url=oidc.url) as http:
            assert (await http.get(SSO)).status_code == 401
