"""Single sign-on routes: which sign-in methods exist, and the OpenID Connect round trip.

The callback ends in the web app, signed in the way password sign-in leaves it (the refresh cookie, which the
web app trades for an access token), so no token ever appears in a URL. A callback that fails ends on the
sign-in page with the reason (`/signin?sso_error=<code>`), or in problem+json for a client that asked for JSON,
and leaves an audit row; it never signs anyone in half-way.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from parley.auth import service as auth_service
from parley.auth.endpoints import REFRESH_COOKIE, anonymous_rate_limit, set_session_cookies
from parley.auth.security import Security, SecurityDep, client_ip
from parley.config import Settings
from parley.db import SessionDep
from parley.errors import NotFound, problem_response, problem_responses
from parley.identity import service as identity_service
from parley.identity.oidc import KIND, OIDCClient, OIDCProviders
from parley.identity.saml import SAMLProviders
from parley.identity.schemas import SignInMethod, SignInMethods
from parley.identity.service import SignInRefused

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], dependencies=[Depends(anonymous_rate_limit)])

# The random value tying a sign-in to the browser that started it. SameSite=Lax, not Strict: the provider sends
# the browser back with a top-level navigation from its own site, which a Strict cookie would not follow.
_BROWSER_COOKIE = "parley_sso_request"
# Which provider the session came from, so signing out can sign out there too (only the auth routes read it).
_PROVIDER_COOKIE = "parley_sso_provider"
_COOKIE_PATH = "/api/v1/auth"
_SIGNED_IN = "/chat"
_SIGN_IN_PAGE = "/signin"


def _providers(request: Request) -> OIDCProviders:
    providers: OIDCProviders = request.app.state.oidc
    return providers


def _client(request: Request, provider: str) -> OIDCClient:
    client = _providers(request).get(provider)
    if client is None:
        raise NotFound("no such sign-in provider")
    return client


def _callback_url(request: Request, provider: str) -> str:
    return str(request.url_for("oidc_callback", provider=provider))


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _failed(request: Request, refusal: SignInRefused) -> Response:
    if _wants_json(request):
        return problem_response(refusal.status, refusal.message, request=request, code=refusal.code)
    return RedirectResponse(f"{_SIGN_IN_PAGE}?sso_error={refusal.code}", status_code=303)


async def _record_failure(
    session: AsyncSession, request: Request, *, provider: str, refusal: SignInRefused, state: str | None
) -> None:
    """Undo whatever the failed attempt wrote, keep its state used up, and leave the audit row."""
    await session.rollback()
    if state:
        await identity_service.forget_request(session, state=state)
    identity_service.record_refusal(
        session, kind=KIND, provider=provider, code=refusal.code, reason=refusal.message, ip=client_ip(request)
    )


@router.get("/providers", response_model=SignInMethods, summary="The ways to sign in here (public)")
async def providers(request: Request) -> SignInMethods:
    settings: Settings = request.app.state.settings
    methods = []
    if settings.auth.password_login_enabled:
        methods.append(SignInMethod(kind="password", id="password", display_name="Email and password"))
    for provider_id, client in _providers(request).clients.items():
        methods.append(
            SignInMethod(
                kind="oidc",
                id=provider_id,
                display_name=client.settings.display_name,
                login_url=str(request.url_for("oidc_login", provider=provider_id).path),
            )
        )
    saml: SAMLProviders = request.app.state.saml
    for idp_id, idp in saml.providers.items():
        login_url = str(request.url_for("saml_login", idp=idp_id).path)
        methods.append(
            SignInMethod(kind="saml", id=idp_id, display_name=idp.settings.display_name, login_url=login_url)
        )
    return SignInMethods(
        methods=methods,
        break_glass_password=not settings.auth.password_login_enabled and settings.auth.break_glass_email is not None,
    )


@router.get(
    "/oidc/{provider}/login",
    name="oidc_login",
    status_code=302,
    response_class=RedirectResponse,
    responses={302: {"description": "To the provider's sign-in page"}, **problem_responses(404, 422, 429)},
    summary="Start signing in with an OpenID Connect provider (redirects the browser to it)",
)
async def oidc_login(provider: str, request: Request, session: SessionDep) -> Response:
    client = _client(request, provider)
    settings: Settings = request.app.state.settings
    state, nonce, browser = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    code_verifier = secrets.token_urlsafe(64)
    try:
        url = await client.authorization_url(
            redirect_uri=_callback_url(request, provider), state=state, nonce=nonce, code_verifier=code_verifier
        )
    except SignInRefused as refusal:
        await _record_failure(session, request, provider=provider, refusal=refusal, state=None)
        return _failed(request, refusal)
    await identity_service.remember_request(
        session,
        kind=KIND,
        provider=provider,
        state=state,
        browser=browser,
        nonce=nonce,
        code_verifier=code_verifier,
        ttl_seconds=settings.oidc.login_timeout_seconds,
    )
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        _BROWSER_COOKIE,
        browser,
        max_age=settings.oidc.login_timeout_seconds,
        path=_COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.get(
    "/oidc/{provider}/callback",
    name="oidc_callback",
    status_code=303,
    response_class=RedirectResponse,
    responses={
        303: {
            "description": "Into the web app, signed in (refresh cookie set), or to its sign-in page with the reason"
        },
        **problem_responses(400, 401, 403, 404, 422, 429, 503),
    },
    summary="Where the OpenID Connect provider sends the browser back",
)
async def oidc_callback(
    provider: str,
    request: Request,
    session: SessionDep,
    security: SecurityDep,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    error_description: Annotated[str | None, Query(max_length=1000)] = None,
    iss: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    client = _client(request, provider)
    ip = client_ip(request)
    try:
        if error:
            raise SignInRefused(
                "provider_error",
                f"{client.settings.display_name} did not sign you in: {error_description or error}",
                status=400,
            )
        if not state or not code:
            raise SignInRefused("state_invalid", "This sign-in link is incomplete. Sign in again.", status=400)
        pending = await identity_service.take_request(
            session, kind=KIND, provider=provider, state=state, browser=request.cookies.get(_BROWSER_COOKIE)
        )
        # RFC 9207: the provider names itself in the response; another issuer's answer (mix-up) is refused.
        if iss is not None and iss.rstrip("/") != client.settings.issuer:
            raise SignInRefused("issuer_mismatch", "The answer came from another provider. Sign in again.", status=400)
        outcome = await client.complete(
            code=code,
            redirect_uri=_callback_url(request, provider),
            nonce=pending.nonce,
            code_verifier=pending.code_verifier,
        )
        user = await identity_service.sign_in(session, outcome.profile, client.policy, ip=ip)
    except SignInRefused as refusal:
        await _record_failure(session, request, provider=provider, refusal=refusal, state=state)
        response = _failed(request, refusal)
        response.delete_cookie(_BROWSER_COOKIE, path=_COOKIE_PATH)
        return response
    pair = auth_service.start_session(
        session,
        security,
        user,
        ip=ip,
        user_agent=request.headers.get("user-agent"),
        via={"method": KIND, "provider": provider},
    )
    response = RedirectResponse(_SIGNED_IN, status_code=303)
    set_session_cookies(request, response, refresh_token=pair.refresh_token, security=security)
    _set_provider_cookie(request, response, provider, security)
    response.delete_cookie(_BROWSER_COOKIE, path=_COOKIE_PATH)
    return response


def _set_provider_cookie(request: Request, response: Response, provider: str, security: Security) -> None:
    response.set_cookie(
        _PROVIDER_COOKIE,
        provider,
        max_age=security.settings.refresh_token_ttl_days * 86_400,
        path=_COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


@router.get(
    "/oidc/logout",
    status_code=303,
    response_class=RedirectResponse,
    responses={
        303: {"description": "To the provider's sign-out page, or to the sign-in page"},
        **problem_responses(429),
    },
    summary="Sign out here and, for a session from a provider that supports it, at the provider too",
)
async def oidc_logout(request: Request, session: SessionDep) -> Response:
    token = request.cookies.get(REFRESH_COOKIE)
    if token:
        await auth_service.logout(session, refresh_token=token, ip=client_ip(request))
    target = _SIGN_IN_PAGE
    client = _providers(request).get(request.cookies.get(_PROVIDER_COOKIE) or "")
    if client is not None:
        after = str(request.base_url).rstrip("/") + _SIGN_IN_PAGE
        try:
            target = await client.end_session_url(post_logout_redirect_uri=after) or _SIGN_IN_PAGE
        except SignInRefused:
            target = _SIGN_IN_PAGE
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(REFRESH_COOKIE, path=_COOKIE_PATH, httponly=True, samesite="strict")
    response.delete_cookie(_PROVIDER_COOKIE, path=_COOKIE_PATH, httponly=True, samesite="strict")
    return response
