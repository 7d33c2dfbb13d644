from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from parley.auth.dependencies import AdminUser
from parley.auth.security import client_ip
from parley.db import SessionDep
from parley.errors import problem_responses
from parley.kit.pagination import Page
from parley.llm.dependencies import ModelRegistryDep
from parley.plans import service as plans_service
from parley.plans.dependencies import SeededPlans
from parley.policy.quotas import LimitOverrides
from parley.users import service
from parley.users.schemas import AdminUserRead, AdminUserUpdate

router = APIRouter(prefix="/api/v1/admin/users", tags=["admin"])


@router.get(
    "",
    response_model=Page[AdminUserRead],
    responses=problem_responses(401, 403, 422),
    summary="List users (search by email or name, filter by role and status)",
)
async def list_users(
    principal: AdminUser,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=200, description="Substring of email or name")] = None,
    role: Annotated[str | None, Query(max_length=32, description="`user`, `admin` or a custom role")] = None,
    is_active: bool | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[AdminUserRead]:
    users, total = await service.list_users(
        session,
        search=q,
        role=role,
        is_active=is_active,
        page=page,
        page_size=page_size,
    )
    return Page[AdminUserRead](
        items=[AdminUserRead.model_validate(u) for u in users], total=total, page=page, page_size=page_size
    )


@router.post(
    "/{user_id}/suspend",
    response_model=AdminUserRead,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Suspend a user: every call of theirs is refused from now on, and their answers being written stop",
)
async def suspend(user_id: uuid.UUID, request: Request, principal: AdminUser, session: SessionDep) -> AdminUserRead:
    user = await service.set_active(
        session,
        admin=principal.user,
        user_id=user_id,
        active=False,
        ip=client_ip(request),
        answers=(request.app.state.chat_engine, request.app.state.open_streams),
    )
    return AdminUserRead.model_validate(user)


@router.post(
    "/{user_id}/unsuspend",
    response_model=AdminUserRead,
    responses=problem_responses(401, 403, 404, 422),
    summary="Reinstate a suspended user",
)
async def unsuspend(user_id: uuid.UUID, request: Request, principal: AdminUser, session: SessionDep) -> AdminUserRead:
    user = await service.set_active(session, admin=principal.user, user_id=user_id, active=True, ip=client_ip(request))
    return AdminUserRead.model_validate(user)


@router.patch(
    "/{user_id}",
    response_model=AdminUserRead,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Change a user's role, subscription tier or cost centre",
)
async def update_user(
    user_id: uuid.UUID,
    body: AdminUserUpdate,
    request: Request,
    principal: AdminUser,
    session: SessionDep,
    seeds: SeededPlans,
) -> AdminUserRead:
    if body.subscription_tier is not None:
        await plans_service.check_exists(session, body.subscription_tier, seeds=seeds)
    user = await service.admin_update(
        session,
        admin=principal.user,
        user_id=user_id,
        role=body.role,
        grantor=principal.permissions,
        subscription_tier=body.subscription_tier,
        cost_centre=(body.cost_centre or None) if "cost_centre" in body.model_fields_set else ...,
        ip=client_ip(request),
    )
    return AdminUserRead.model_validate(user)


@router.put(
    "/{user_id}/limits",
    response_model=LimitOverrides,
    response_model_exclude_unset=True,
    responses=problem_responses(401, 403, 404, 422),
    summary="Override some of a user's plan limits (only the limits given; null: unlimited; replaces earlier ones)",
)
async def put_limits(
    user_id: uuid.UUID,
    body: LimitOverrides,
    request: Request,
    principal: AdminUser,
    session: SessionDep,
    registry: ModelRegistryDep,
) -> LimitOverrides:
    limits = await service.set_limits(
        session,
        admin_id=principal.user_id,
        user_id=user_id,
        overrides=body,
        catalogue=registry.names,
        ip=client_ip(request),
    )
    return LimitOverrides.model_validate(limits)


@router.delete(
    "/{user_id}/limits",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
    summary="Remove a user's limit overrides: their plan and groups decide again",
)
async def delete_limits(user_id: uuid.UUID, request: Request, principal: AdminUser, session: SessionDep) -> Response:
    await service.clear_limits(session, admin_id=principal.user_id, user_id=user_id, ip=client_ip(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
