"""FastAPI dependencies that authenticate the caller and check permissions.

Domains declare what a route needs with `Annotated` aliases built from `require(...)`; the OpenAPI document
shows the bearer scheme on every route that uses them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from parley.auth import service
from parley.auth.permissions import Permission
from parley.auth.principal import Principal
from parley.auth.security import SecurityDep
from parley.db import SessionDep
from parley.errors import Forbidden, Unauthorized
from parley.tracing import spans as tracing

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="BearerAuth",
    description="An access token from /api/v1/auth/login, or an API key (`pk-…`).",
)


async def current_principal(
    request: Request,
    session: SessionDep,
    security: SecurityDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthorized()
    with tracing.span("auth.principal") as span:
        principal = await service.authenticate(session, security, credentials.credentials)
        span.set_attribute("parley.user_id", str(principal.user_id))
        span.set_attribute("parley.credential", "api_key" if principal.api_key_id is not None else "access_token")
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(*permissions: Permission, interactive: bool = False) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers that hold every one of `permissions`; `interactive` also refuses API
    keys (for managing credentials, which a leaked key must not be able to do)."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if interactive and not principal.is_interactive:
            raise Forbidden("This action needs a signed-in session; API keys cannot perform it")
        missing = [p.value for p in permissions if not principal.can(p)]
        if missing:
            if principal.api_key_id is not None:
                raise Forbidden(f"This API key lacks the scope(s): {', '.join(missing)}")
            raise Forbidden("Your role does not allow this action")
        return principal

    return dependency


ProfileReader = Annotated[Principal, Depends(require(Permission.PROFILE_READ))]
ProfileWriter = Annotated[Principal, Depends(require(Permission.PROFILE_WRITE))]
InteractiveUser = Annotated[Principal, Depends(require(Permission.PROFILE_WRITE, interactive=True))]
AdminUser = Annotated[Principal, Depends(require(Permission.ADMIN_USERS))]
AuditReader = Annotated[Principal, Depends(require(Permission.ADMIN_AUDIT))]
AnalyticsReader = Annotated[Principal, Depends(require(Permission.ADMIN_ANALYTICS))]
ModelsAdmin = Annotated[Principal, Depends(require(Permission.ADMIN_MODELS))]
PlansAdmin = Annotated[Principal, Depends(require(Permission.ADMIN_PLANS))]
GroupsAdmin = Annotated[Principal, Depends(require(Permission.ADMIN_GROUPS))]
RolesAdmin = Annotated[Principal, Depends(require(Permission.ADMIN_ROLES))]
ReportsReviewer = Annotated[Principal, Depends(require(Permission.ADMIN_REPORTS))]
