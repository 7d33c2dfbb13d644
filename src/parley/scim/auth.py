"""The SCIM client's credential: a dedicated bearer token (`PARLEY_SCIM__TOKEN`, or the one an admin created),
never a user's access token or API key, which are refused here like any wrong token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from parley.db import SessionDep
from parley.errors import Unauthorized
from parley.scim import service

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ScimBearer",
    description="The SCIM token (PARLEY_SCIM__TOKEN, or POST /api/v1/admin/scim/token).",
)


async def scim_client(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("SCIM needs the SCIM bearer token (Authorization: Bearer …)")
    configured = request.app.state.settings.scim.token
    if not await service.authenticate(session, credentials.credentials, configured=configured):
        raise Unauthorized("this is not the SCIM token (or SCIM is off: no token is configured)")


ScimClient = Depends(scim_client)
