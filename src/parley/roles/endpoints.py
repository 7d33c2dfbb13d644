"""Administration of custom roles: `/api/v1/admin/roles` (the `admin:roles` permission)."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from fastapi import APIRouter, Request, Response, status

from parley.auth.dependencies import RolesAdmin
from parley.auth.security import client_ip
from parley.db import SessionDep
from parley.errors import problem_responses
from parley.roles import service
from parley.roles.schemas import RoleCreate, RoleRead, RoleUpdate

router = APIRouter(prefix="/api/v1/admin/roles", tags=["admin"])


@router.get(
    "",
    response_model=list[RoleRead],
    responses=problem_responses(401, 403),
    summary="List the roles: the built-in ones, then custom ones, with how many users and groups hold each",
)
async def list_roles(principal: RolesAdmin, session: SessionDep) -> list[RoleRead]:
    return [RoleRead(**asdict(view)) for view in await service.list_roles(session)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RoleRead,
    responses=problem_responses(401, 403, 409, 422),
    summary="Define a role as a set of permissions (only the `admin:*` ones you hold yourself)",
)
async def create_role(body: RoleCreate, request: Request, principal: RolesAdmin, session: SessionDep) -> RoleRead:
    view = await service.create(
        session,
        actor_id=principal.user_id,
        grantor=principal.permissions,
        name=body.name,
        description=body.description,
        permissions=body.permissions,
        ip=client_ip(request),
    )
    return RoleRead(**asdict(view))


@router.patch(
    "/{role_id}",
    response_model=RoleRead,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Rename a role or change its permissions; its holders have them from their next request",
)
async def update_role(
    role_id: uuid.UUID, body: RoleUpdate, request: Request, principal: RolesAdmin, session: SessionDep
) -> RoleRead:
    view = await service.update(
        session,
        actor_id=principal.user_id,
        grantor=principal.permissions,
        role_id=role_id,
        name=body.name,
        description=body.description,
        permissions=body.permissions,
        ip=client_ip(request),
    )
    return RoleRead(**asdict(view))


@router.delete(
    "/{role_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Delete a role nobody holds (409 while users or groups still hold it)",
)
async def delete_role(role_id: uuid.UUID, request: Request, principal: RolesAdmin, session: SessionDep) -> Response:
    await service.delete(
        session, actor_id=principal.user_id, grantor=principal.permissions, role_id=role_id, ip=client_ip(request)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
