"""What administrators see and do of SCIM provisioning: whether it is on, the base URL to give the identity
provider, when the token was created and when the IdP last called; and a new token (shown once)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field

from parley.auth.dependencies import AdminUser, require
from parley.auth.permissions import Permission
from parley.auth.principal import Principal
from parley.auth.security import client_ip
from parley.db import SessionDep
from parley.errors import problem_responses
from parley.scim import service
from parley.scim.errors import PREFIX

router = APIRouter(prefix="/api/v1/admin/scim", tags=["admin"])

# Minting a credential needs a signed-in admin: an API key, even an admin's, cannot create one.
InteractiveAdmin = Annotated[Principal, Depends(require(Permission.ADMIN_USERS, interactive=True))]


class ScimStatusRead(BaseModel):
    enabled: bool = Field(description="A token is configured (settings or admin), so the IdP can provision")
    base_url: str = Field(description="The SCIM base URL (tenant URL) to give the identity provider")
    settings_token: bool = Field(description="PARLEY_SCIM__TOKEN is set (accepted besides an admin's token)")
    token_created_at: datetime | None = Field(description="When an admin created the current token; null: none")
    last_call_at: datetime | None = Field(
        description="The identity provider's last authenticated SCIM call (to the minute); null: none yet"
    )


class ScimTokenCreated(BaseModel):
    token: str = Field(description="The new SCIM bearer token: shown this once, stored only as a hash")
    created_at: datetime
    base_url: str


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


@router.get(
    "",
    response_model=ScimStatusRead,
    responses=problem_responses(401, 403),
    summary="SCIM provisioning status: on or off, base URL, token age, last provisioning call",
)
async def scim_status(request: Request, principal: AdminUser, session: SessionDep) -> ScimStatusRead:
    state = await service.status(session, configured=request.app.state.settings.scim.token)
    return ScimStatusRead(
        enabled=state.enabled,
        base_url=_base_url(request),
        settings_token=state.settings_token,
        token_created_at=state.token_created_at,
        last_call_at=state.last_call_at,
    )


@router.post(
    "/token",
    response_model=ScimTokenCreated,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 403),
    summary="Create (or rotate) the SCIM token: returned once; the previous admin-created token stops working",
)
async def rotate_token(request: Request, principal: InteractiveAdmin, session: SessionDep) -> ScimTokenCreated:
    token, created_at = await service.rotate_token(session, admin_id=principal.user_id, ip=client_ip(request))
    return ScimTokenCreated(token=token, created_at=created_at, base_url=_base_url(request))
