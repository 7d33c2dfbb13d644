"""Groups as administrators keep them: create, rename, delete, and who is in each."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from parley.auth.dependencies import GroupsAdmin
from parley.auth.security import client_ip
from parley.db import SessionDep
from parley.errors import problem_responses
from parley.groups import service
from parley.groups.schemas import Group, GroupCreate, GroupMember, GroupUpdate, MemberAdd
from parley.kit.pagination import Page
from parley.llm.dependencies import ModelRegistryDep
from parley.policy.quotas import GroupLimits

router = APIRouter(prefix="/api/v1/admin/groups", tags=["admin"])

PageNumber = Annotated[int, Query(ge=1, le=100_000)]
PageSize = Annotated[int, Query(ge=1, le=200)]


def _out(view: service.GroupView) -> Group:
    group = view.group
    return Group(
        id=group.id,
        name=group.name,
        description=group.description,
        member_count=view.member_count,
        role=group.role,
        limits=group.limits,
        created_at=group.created_at,
        updated_at=group.updated_at,
    )


def _member_out(membership: service.Membership) -> GroupMember:
    user = membership.user
    return GroupMember(
        user_id=user.id,
        email=user.email,
        name=user.full_name,
        role=user.role,
        is_active=user.is_active,
        added_at=membership.added_at,
    )


@router.get(
    "",
    response_model=Page[Group],
    responses=problem_responses(401, 403, 422),
    summary="List groups by name (search by name or description)",
)
async def list_groups(
    principal: GroupsAdmin,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=100, description="Substring of the name or description")] = None,
    page: PageNumber = 1,
    page_size: PageSize = 50,
) -> Page[Group]:
    views, total = await service.list_page(session, search=q, page=page, page_size=page_size)
    return Page[Group](items=[_out(v) for v in views], total=total, page=page, page_size=page_size)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Group,
    responses=problem_responses(401, 403, 409, 422),
    summary="Create a group (names are unique, whatever their case)",
)
async def create_group(body: GroupCreate, request: Request, principal: GroupsAdmin, session: SessionDep) -> Group:
    view = await service.create(
        session, admin_id=principal.user_id, name=body.name, description=body.description, ip=client_ip(request)
    )
    if body.role is not None:
        view = await service.set_role(
            session,
            admin_id=principal.user_id,
            group_id=view.group.id,
            role=body.role,
            grantor=principal.permissions,
            ip=client_ip(request),
        )
    return _out(view)


@router.get(
    "/{group_id}",
    response_model=Group,
    responses=problem_responses(401, 403, 404, 422),
    summary="A group with its member count",
)
async def read_group(group_id: uuid.UUID, principal: GroupsAdmin, session: SessionDep) -> Group:
    return _out(await service.get(session, group_id))


@router.patch(
    "/{group_id}",
    response_model=Group,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Rename a group, change its description or its role",
)
async def update_group(
    group_id: uuid.UUID, body: GroupUpdate, request: Request, principal: GroupsAdmin, session: SessionDep
) -> Group:
    view = await service.update(
        session,
        admin_id=principal.user_id,
        group_id=group_id,
        name=body.name,
        description=body.description,
        ip=client_ip(request),
    )
    if "role" in body.model_fields_set:
        view = await service.set_role(
            session,
            admin_id=principal.user_id,
            group_id=group_id,
            role=body.role,
            grantor=principal.permissions,
            ip=client_ip(request),
        )
    return _out(view)


@router.delete(
    "/{group_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
    summary="Delete a group: its members lose what was shared with it",
)
async def delete_group(group_id: uuid.UUID, request: Request, principal: GroupsAdmin, session: SessionDep) -> Response:
    await service.check_membership_grantable(session, group_id, grantor=principal.permissions)
    await service.delete(session, admin_id=principal.user_id, group_id=group_id, ip=client_ip(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{group_id}/members",
    response_model=Page[GroupMember],
    responses=problem_responses(401, 403, 404, 422),
    summary="Members of a group, by email",
)
async def list_members(
    group_id: uuid.UUID, principal: GroupsAdmin, session: SessionDep, page: PageNumber = 1, page_size: PageSize = 50
) -> Page[GroupMember]:
    memberships, total = await service.members(session, group_id=group_id, page=page, page_size=page_size)
    return Page[GroupMember](items=[_member_out(m) for m in memberships], total=total, page=page, page_size=page_size)


@router.post(
    "/{group_id}/members",
    status_code=status.HTTP_201_CREATED,
    response_model=GroupMember,
    responses=problem_responses(401, 403, 404, 422),
    summary="Add a user to a group (by email or id); adding a member again changes nothing",
)
async def add_member(
    group_id: uuid.UUID, body: MemberAdd, request: Request, principal: GroupsAdmin, session: SessionDep
) -> GroupMember:
    await service.check_membership_grantable(session, group_id, grantor=principal.permissions)
    membership = await service.add_member(
        session,
        admin_id=principal.user_id,
        group_id=group_id,
        user_id=body.user_id,
        user_email=body.user_email,
        ip=client_ip(request),
    )
    return _member_out(membership)


@router.delete(
    "/{group_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
    summary="Take a user out of a group",
)
async def remove_member(
    group_id: uuid.UUID, user_id: uuid.UUID, request: Request, principal: GroupsAdmin, session: SessionDep
) -> Response:
    await service.check_membership_grantable(session, group_id, grantor=principal.permissions)
    await service.remove_member(
        session, admin_id=principal.user_id, group_id=group_id, user_id=user_id, ip=client_ip(request)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/{group_id}/limits",
    response_model=GroupLimits,
    response_model_exclude_unset=True,
    responses=problem_responses(401, 403, 404, 422),
    summary="Set the limits a group gives its members and its shared monthly budget (replaces earlier ones)",
)
async def put_limits(
    group_id: uuid.UUID,
    body: GroupLimits,
    request: Request,
    principal: GroupsAdmin,
    session: SessionDep,
    registry: ModelRegistryDep,
) -> GroupLimits:
    limits = await service.set_limits(
        session,
        admin_id=principal.user_id,
        group_id=group_id,
        limits=body,
        catalogue=registry.names,
        ip=client_ip(request),
    )
    return GroupLimits.model_validate(limits)


@router.delete(
    "/{group_id}/limits",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
    summary="Remove a group's limits and shared budget",
)
async def delete_limits(group_id: uuid.UUID, request: Request, principal: GroupsAdmin, session: SessionDep) -> Response:
    await service.clear_limits(session, admin_id=principal.user_id, group_id=group_id, ip=client_ip(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
