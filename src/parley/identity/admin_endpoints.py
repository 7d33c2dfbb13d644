"""What administrators see of single sign-on (`GET /api/v1/admin/sso`): whether passwords still sign in, and
each configured OpenID Connect and SAML provider with its linked accounts, last sign-in and synced groups."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from parley.auth.dependencies import AdminUser
from parley.config import Settings
from parley.db import SessionDep
from parley.errors import problem_responses
from parley.identity.oidc import OIDCProviders
from parley.identity.saml import SAMLProviders
from parley.identity.status import ConfiguredProvider, provider_statuses

router = APIRouter(prefix="/api/v1/admin/sso", tags=["admin"])


class SSOProviderRead(BaseModel):
    kind: Literal["oidc", "saml"]
    id: str = Field(description="The provider's id in the settings (in its sign-in URLs)")
    display_name: str
    issuer: str | None = Field(description="The OpenID issuer, or the SAML IdP's entity id or metadata source")
    linked_accounts: int = Field(description="Parley accounts linked to an identity at this provider")
    last_sign_in_at: datetime | None = Field(description="The last sign-in through this provider; null: none yet")
    synced_groups: int = Field(description="Parley groups kept in step with this provider's group claim")


class SSOStatusRead(BaseModel):
    password_sign_in: bool = Field(description="Email and password sign-in is on for everyone")
    break_glass_email: str | None = Field(
        description="With password sign-in off: the one account that may still sign in with a password"
    )
    providers: list[SSOProviderRead]


def _configured(request: Request) -> list[ConfiguredProvider]:
    oidc: OIDCProviders = request.app.state.oidc
    saml: SAMLProviders = request.app.state.saml
    found = [
        ConfiguredProvider("oidc", provider_id, client.settings.display_name, client.settings.issuer)
        for provider_id, client in oidc.clients.items()
    ]
    for idp_id, provider in saml.providers.items():
        idp = provider.settings
        source = idp.entity_id or idp.metadata_url or (str(idp.metadata_file) if idp.metadata_file else None)
        found.append(ConfiguredProvider("saml", idp_id, idp.display_name, source))
    return found


@router.get(
    "",
    response_model=SSOStatusRead,
    responses=problem_responses(401, 403),
    summary="Single sign-on: how people sign in, and each identity provider's linked accounts and last sign-in",
)
async def read_sso_status(request: Request, _: AdminUser, session: SessionDep) -> SSOStatusRead:
    settings: Settings = request.app.state.settings
    statuses = await provider_statuses(session, _configured(request))
    return SSOStatusRead(
        password_sign_in=settings.auth.password_login_enabled,
        break_glass_email=None if settings.auth.password_login_enabled else settings.auth.break_glass_email,
        providers=[
            SSOProviderRead(
                kind="oidc" if status.provider.kind == "oidc" else "saml",
                id=status.provider.id,
                display_name=status.provider.display_name,
                issuer=status.provider.issuer,
                linked_accounts=status.linked_accounts,
                last_sign_in_at=status.last_sign_in_at,
                synced_groups=status.synced_groups,
            )
            for status in statuses
        ],
    )
