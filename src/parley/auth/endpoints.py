from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.routing import APIRoute

from parley.auth import service
from parley.auth.schemas import LoginRequest, RefreshRequest, RegisterRequest, TokenPairResponse
from parley.auth.security import Security, SecurityDep, client_ip
from parley.config import Settings
from parley.db import SessionDep
from parley.errors import ParleyError, Unauthorized, problem_responses
from parley.policy.rates import RateLimit, RateLimiterDep
from parley.users.schemas import UserRead


async def anonymous_rate_limit(request: Request, response: Response, limiter: RateLimiterDep) -> None:
    """Every route here is open to anyone, so each client address gets `limits.anonymous_per_minute` requests
    a minute across all of them (the `anon` limit), whatever they are and however they end; sign-in throttling
    (`auth.throttle`) still counts failed passwords on top. The address is the one uvicorn took from
    X-Forwarded-For when a trusted proxy (`forwarded_allow_ips`) sent it, so clients cannot pick their own."""
    settings: Settings = request.app.state.settings
    limit = RateLimit("anon", quota=settings.limits.anonymous_per_minute, window_seconds=60)
    decision = await limiter.hit(limit, client_ip(request) or "unknown")
    decision.enforce()
    response.headers.update(decision.headers())
    # For a refusal the route raises after this (wrong password, expired token…): `_RateLimitedRoute`.
    request.state.rate_limit_headers = decision.headers()


class _RateLimitedRoute(APIRoute):
    """Refusals of an allowed request (401, 403, 409…) carry the rate-limit headers too, so a client sees where
    it stands whatever the answer; answers that succeed get them from the dependency's response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_with_headers(request: Request) -> Response:
            try:
                return await handle(request)
            except ParleyError as exc:
                exc.headers = {**getattr(request.state, "rate_limit_headers", {}), **exc.headers}
                raise

        return handle_with_headers


router = APIRouter(
    prefix="/api/v1/auth",
    tags=["auth"],
    dependencies=[Depends(anonymous_rate_limit)],
    route_class=_RateLimitedRoute,
)

# Browsers keep the refresh token in this cookie: httpOnly (no script can read it), SameSite=Strict (no other
# site can make the browser send it), and only on the auth routes.
REFRESH_COOKIE = "parley_refresh"
_COOKIE_PATH = "/api/v1/auth"
# A random id the browser keeps across sessions (same protections): an account it signed in to recognises it, so
# sign-in throttling never stands between that browser and the account (`auth.throttle`). It proves nothing by
# itself; it only names the browser.
DEVICE_COOKIE = "parley_device"
_DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{32,64}")


def _set_private_cookie(request: Request, response: Response, name: str, value: str, *, days: int) -> None:
    """A cookie only Parley's auth routes receive and scripts cannot read."""
    response.set_cookie(
        name,
        value,
        max_age=days * 86_400,
        path=_COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _set_refresh_cookie(request: Request, response: Response, token: str, security: SecurityDep) -> None:
    _set_private_cookie(request, response, REFRESH_COOKIE, token, days=security.settings.refresh_token_ttl_days)


def set_session_cookies(request: Request, response: Response, *, refresh_token: str, security: Security) -> None:
    """Hand a new session to the browser as password sign-in does: the refresh cookie (the web app trades it for
    an access token), and the device cookie that exempts this browser from sign-in throttling."""
    _set_refresh_cookie(request, response, refresh_token, security)
    _set_private_cookie(
        request, response, DEVICE_COOKIE, _device_id(request), days=security.settings.login_recognised_address_days
    )


def _device_id(request: Request) -> str:
    """The browser's device id from its cookie, or a new one (kept only if this sign-in succeeds)."""
    presented = request.cookies.get(DEVICE_COOKIE)
    if presented and _DEVICE_ID.fullmatch(presented):
        return presented
    return secrets.token_urlsafe(32)


def _presented_refresh_token(body: RefreshRequest | None, request: Request) -> str:
    token = (body.refresh_token if body else None) or request.cookies.get(REFRESH_COOKIE)
    if not token:
        raise Unauthorized("No refresh token: send refresh_token, or sign in again")
    return token


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=problem_responses(403, 409, 422, 429),
    summary="Create an account (when self-registration is enabled)",
)
async def register(body: RegisterRequest, request: Request, session: SessionDep, security: SecurityDep) -> UserRead:
    user = await service.register(
        session,
        security,
        email=str(body.email),
        password=body.password,
        full_name=body.full_name,
        ip=client_ip(request),
    )
    return UserRead.model_validate(user)


@router.post(
    "/login",
    response_model=TokenPairResponse,
    responses=problem_responses(401, 403, 422, 429),
    summary="Sign in with email and password",
)
async def login(
    body: LoginRequest, request: Request, response: Response, session: SessionDep, security: SecurityDep
) -> TokenPairResponse:
    device = _device_id(request)
    pair = await service.login(
        session,
        security,
        email=body.email,
        password=body.password,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        device=device,
    )
    _set_refresh_cookie(request, response, pair.refresh_token, security)
    _set_private_cookie(request, response, DEVICE_COOKIE, device, days=security.settings.login_recognised_address_days)
    return TokenPairResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post(
    "/refresh",
    response_model=TokenPairResponse,
    responses=problem_responses(401, 403, 422, 429),
    summary="Trade a refresh token (body, or the session cookie) for a new pair; the old one dies",
)
async def refresh(
    request: Request,
    response: Response,
    session: SessionDep,
    security: SecurityDep,
    body: RefreshRequest | None = None,
) -> TokenPairResponse:
    pair = await service.refresh(
        session,
        security,
        refresh_token=_presented_refresh_token(body, request),
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    _set_refresh_cookie(request, response, pair.refresh_token, security)
    return TokenPairResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(422, 429),
    summary="End the session a refresh token belongs to",
)
async def logout(request: Request, response: Response, session: SessionDep, body: RefreshRequest | None = None) -> None:
    token = (body.refresh_token if body else None) or request.cookies.get(REFRESH_COOKIE)
    if token:
        await service.logout(session, refresh_token=token, ip=client_ip(request))
    # On the injected response (not a new one), so the rate-limit headers the dependency set go out with it.
    response.delete_cookie(REFRESH_COOKIE, path=_COOKIE_PATH, httponly=True, samesite="strict")
