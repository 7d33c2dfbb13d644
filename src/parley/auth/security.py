"""The app-wide security toolkit, built once at start-up: password hashing, token signing, throttling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from parley.auth.passwords import Passwords
from parley.auth.throttle import LoginThrottle
from parley.auth.tokens import AccessTokens, load_or_create_jwt_secret, successor_key
from parley.config import AuthSettings, Settings


@dataclass
class Security:
    settings: AuthSettings
    passwords: Passwords
    access_tokens: AccessTokens
    login_throttle: LoginThrottle
    # Derives each refresh token's successor (`tokens.successor_refresh_token`).
    refresh_successor_key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> Security:
        secret = load_or_create_jwt_secret(settings.auth, settings.resolved_data_dir)
        return cls(
            settings=settings.auth,
            passwords=Passwords(settings.auth),
            access_tokens=AccessTokens(settings.auth, secret),
            login_throttle=LoginThrottle(settings.auth),
            refresh_successor_key=successor_key(secret),
        )


async def _security(request: Request) -> Security:
    security: Security = request.app.state.security
    return security


SecurityDep = Annotated[Security, Depends(_security)]


def client_ip(request: Request) -> str | None:
    """The caller's address (uvicorn has already applied X-Forwarded-For from trusted proxies)."""
    return request.client.host if request.client else None
