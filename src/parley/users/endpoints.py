from __future__ import annotations

from fastapi import APIRouter, Request

from parley.auth.dependencies import ProfileReader, ProfileWriter
from parley.auth.security import SecurityDep, client_ip
from parley.db import SessionDep
from parley.errors import Forbidden, problem_responses
from parley.users import service
from parley.users.schemas import ProfileUpdate, UserRead

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.get("/me", response_model=UserRead, responses=problem_responses(401, 403), summary="Your profile")
async def read_me(principal: ProfileReader) -> UserRead:
    return UserRead.model_validate(principal.user)


@router.patch(
    "/me",
    response_model=UserRead,
    responses=problem_responses(401, 403, 422),
    summary="Change your name or password (a password change signs out your other sessions)",
)
async def update_me(
    body: ProfileUpdate,
    request: Request,
    principal: ProfileWriter,
    session: SessionDep,
    security: SecurityDep,
) -> UserRead:
    if body.new_password is not None and not principal.is_interactive:
        raise Forbidden("Changing the password needs a signed-in session; API keys cannot do it")
    user = await service.update_profile(
        session,
        security.passwords,
        principal.user,
        full_name=body.full_name,
        full_name_set="full_name" in body.model_fields_set,
        current_password=body.current_password,
        new_password=body.new_password,
        keep_session=principal.session_id,
        ip=client_ip(request),
        password_min_length=security.settings.password_min_length,
    )
    return UserRead.model_validate(user)
