"""SAML 2.0 single sign-on routes: Parley's SP metadata, the AuthnRequest to an IdP, and the assertion consumer
service (ACS) the IdP posts its Response to, for sign-ins started here or at the IdP.

The ACS ends in the web app signed in the way OpenID Connect and password sign-in leave it (the refresh cookie,
which the web app trades for an access token), so no token ever appears in a URL. A Response that is refused ends
on the sign-in page with the reason (`/signin?sso_error=<code>`), or in problem+json for a client that asked for
JSON, and leaves an audit row; nothing of the attempt is kept but the used-up request and assertion ids.

The request ids sent to an IdP are kept with the provider-neutral waiting sign-ins (`identity.service`), without
the browser binding OpenID Connect has: the IdP posts the Response cross-site, which a SameSite cookie does not
follow; each id still answers one Response, within the sign-in timeout, for this IdP only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from parley.auth import service as auth_service
from parley.auth.endpoints import anonymous_rate_limit, set_session_cookies
from parley.auth.security import SecurityDep, client_ip
from parley.config import Settings
from parley.db import SessionDep
from parley.errors import NotFound, problem_response, problem_responses
from parley.identity import saml_replay
from parley.identity import service as identity_service
from parley.identity.endpoints import _COOKIE_PATH as OIDC_COOKIE_PATH
from parley.identity.endpoints import _PROVIDER_COOKIE as OIDC_PROVIDER_COOKIE
from parley.identity.saml import (
    KIND,
    MAX_RESPONSE_CHARS,
    SAMLProviders,
    SAMLServiceProvider,
    SAMLSignIn,
    peek_in_response_to,
)
from parley.identity.service import SignInRefused

router = APIRouter(prefix="/api/v1/auth/saml", tags=["auth"], dependencies=[Depends(anonymous_rate_limit)])

_SIGNED_IN = "/chat"
_SIGN_IN_PAGE = "/signin"
_METADATA_TYPE = "application/samlmetadata+xml"


def _provider(request: Request, idp: str) -> SAMLServiceProvider:
    providers: SAMLProviders = request.app.state.saml
    provider = providers.get(idp)
    if provider is None:
        raise NotFound("no such SAML identity provider")
    return provider


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


async def _refused(
    session: AsyncSession,
    request: Request,
    *,
    idp: str,
    refusal: SignInRefused,
    request_id: str | None = None,
    used: SAMLSignIn | None = None,
) -> Response:
    """Undo whatever the failed attempt wrote, keep its request and assertion used up, leave the audit row, and
    send the browser back to the sign-in page with the reason."""
    await session.rollback()
    if request_id:
        await identity_service.forget_request(session, state=request_id)
    if used is not None and refusal.code != "assertion_replayed":
        await saml_replay.use_assertion(session, used)
    identity_service.record_refusal(
        session, kind=KIND, provider=idp, code=refusal.code, reason=refusal.message, ip=client_ip(request)
    )
    if _wants_json(request):
        return problem_response(refusal.status, refusal.message, request=request, code=refusal.code)
    return RedirectResponse(f"{_SIGN_IN_PAGE}?sso_error={refusal.code}", status_code=303)


@router.get(
    "/{idp}/metadata",
    name="saml_metadata",
    response_class=Response,
    responses={
        200: {"description": "Parley's SAML SP metadata for this IdP", "content": {_METADATA_TYPE: {}}},
        **problem_responses(404, 422, 429, 502, 503),
    },
    summary="Parley's SAML service-provider metadata for one IdP (public; give its URL to the IdP)",
)
async def saml_metadata(idp: str, request: Request) -> Response:
    provider = _provider(request, idp)
    try:
        document = await provider.sp_metadata(_base_url(request))
    except SignInRefused as refusal:
        return problem_response(refusal.status, refusal.message, request=request, code=refusal.code)
    return Response(document, media_type=_METADATA_TYPE)


@router.get(
    "/{idp}/login",
    name="saml_login",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        302: {"description": "To the IdP's sign-in page, with an AuthnRequest"},
        **problem_responses(404, 422, 429, 502, 503),
    },
    summary="Start signing in with a SAML IdP (redirects the browser to it)",
)
async def saml_login(idp: str, request: Request, session: SessionDep) -> Response:
    provider = _provider(request, idp)
    settings: Settings = request.app.state.settings
    try:
        request_id, url = await provider.login_url(_base_url(request))
    except SignInRefused as refusal:
        return await _refused(session, request, idp=idp, refusal=refusal)
    await identity_service.remember_request(
        session,
        kind=KIND,
        provider=idp,
        state=request_id,
        browser=request_id,
        nonce="",
        code_verifier="",
        ttl_seconds=settings.saml.login_timeout_seconds,
    )
    return RedirectResponse(url, status_code=302)


@router.post(
    "/{idp}/acs",
    name="saml_acs",
    status_code=303,
    response_class=RedirectResponse,
    responses={
        303: {
            "description": "Into the web app, signed in (refresh cookie set), or to its sign-in page with the reason"
        },
        **problem_responses(400, 401, 403, 404, 422, 429, 502, 503),
    },
    summary="The assertion consumer service: where the IdP posts its SAML Response (HTTP-POST binding)",
)
async def saml_acs(
    idp: str,
    request: Request,
    session: SessionDep,
    security: SecurityDep,
    # Optional here so that an unknown IdP is a 404 whatever the body, and a missing Response a refusal.
    saml_response: Annotated[str | None, Form(alias="SAMLResponse", max_length=MAX_RESPONSE_CHARS)] = None,
    relay_state: Annotated[str | None, Form(alias="RelayState", max_length=2000)] = None,
) -> Response:
    provider = _provider(request, idp)
    ip = client_ip(request)
    request_id: str | None = None
    signed_in: SAMLSignIn | None = None
    try:
        if not saml_response:
            raise SignInRefused("response_malformed", "No SAML Response was posted.", status=400)
        request_id = peek_in_response_to(saml_response)
        if request_id is not None:
            # The request this answers: known, unused, unexpired, and sent to this IdP.
            await identity_service.take_request(session, kind=KIND, provider=idp, state=request_id, browser=request_id)
        signed_in = await provider.consume(_base_url(request), saml_response, in_response_to=request_id)
        await saml_replay.use_assertion(session, signed_in)
        user = await identity_service.sign_in(session, signed_in.profile, provider.policy, ip=ip)
    except SignInRefused as refusal:
        return await _refused(session, request, idp=idp, refusal=refusal, request_id=request_id, used=signed_in)
    pair = auth_service.start_session(
        session,
        security,
        user,
        ip=ip,
        user_agent=request.headers.get("user-agent"),
        via={"method": KIND, "provider": idp},
    )
    # RelayState is not followed: an IdP-initiated post could otherwise send the browser anywhere.
    response = RedirectResponse(_SIGNED_IN, status_code=303)
    set_session_cookies(request, response, refresh_token=pair.refresh_token, security=security)
    # This session is not an OpenID Connect provider's: signing out must not send the browser to one.
    response.delete_cookie(OIDC_PROVIDER_COOKIE, path=OIDC_COOKIE_PATH, httponly=True, samesite="strict")
    return response
