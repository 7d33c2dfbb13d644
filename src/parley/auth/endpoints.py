from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from parley.auth import service
from parley.auth.schemas import LoginRequest, RefreshRequest, RegisterRequest, TokenPairResponse
from parley.auth.security import SecurityDep, client_ip
from parley.db import SessionDep
from parley.errors import problem_responses
from parley.users.schemas import UserRead

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=problem_responses(403, 409, 422),
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
async def login(body: LoginRequest, request: Request, session: SessionDep, security: SecurityDep) -> TokenPairResponse:
    pair = await service.login(
        session,
        security,
        email=body.email,
        password=body.password,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    return TokenPairResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post(
    "/refresh",
    response_model=TokenPairResponse,
    responses=problem_responses(401, 403, 422),
    summary="Trade a refresh token for a new token pair (the old refresh token dies)",
)
async def refresh(
    body: RefreshRequest, request: Request, session: SessionDep, security: SecurityDep
) -> TokenPairResponse:
    pair = await service.refresh(
        session,
        security,
        refresh_token=body.refresh_token,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    return TokenPairResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(422),
    summary="End the session a refresh token belongs to",
)
async def logout(body: RefreshRequest, request: Request, session: SessionDep) -> Response:
    await service.logout(session, refresh_token=body.refresh_token, ip=client_ip(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
