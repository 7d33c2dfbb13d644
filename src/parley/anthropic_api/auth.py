"""Who may call the Anthropic-compatible surface.

Anthropic's SDKs send the key in `x-api-key` (with `ANTHROPIC_AUTH_TOKEN`, as `Authorization: Bearer`). Both
carry a Parley API key (or an access token) and are checked exactly as on `/v1/chat/completions`: the same
authentication, and the `chat` scope (`openai_api.auth`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from parley.auth.dependencies import current_principal, require
from parley.auth.permissions import Permission
from parley.auth.principal import Principal
from parley.auth.security import SecurityDep
from parley.db import SessionDep

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="BearerAuth",
    description="An access token from /api/v1/auth/login, or an API key (`pk-…`).",
)
_api_key_header = APIKeyHeader(
    name="x-api-key",
    auto_error=False,
    scheme_name="AnthropicApiKey",
    description="A Parley API key (`pk-…`), where Anthropic's SDKs send theirs.",
)
_chat_allowed = require(Permission.CHAT)


async def anthropic_principal(
    request: Request,
    session: SessionDep,
    security: SecurityDep,
    api_key: Annotated[str | None, Depends(_api_key_header)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller behind `x-api-key` (first) or the bearer credential, holding the `chat` scope."""
    if api_key:
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=api_key)
    principal = await current_principal(request, session, security, credentials)
    return await _chat_allowed(principal)


AnthropicUser = Annotated[Principal, Depends(anthropic_principal)]
