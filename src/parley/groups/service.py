"""Groups: administrators keep named sets of users (teams, departments) so that a knowledge base can be shared
with all of them at once. Membership is read by the access SQL on every request: adding or removing a member
takes effect on their next request, and deleting a group withdraws everything shared with it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from parley.audit.service import AuditAction, record
from parley.errors import NotFound, Unprocessable
from parley.groups import repository
from parley.models import Group, User
from parley.users import service as user_service


@dataclass(frozen=True)
class GroupView:
    group: Group
    member_count: int


@dataclass(frozen=True)
class Membership:
    user: User
    added_at: datetime


async def create(
    session: AsyncSession, *, admin_id: uuid.UUID, name: str, description: str, ip: str | None
) -> GroupView:
    group = await repository.add(session, Group(id=uuid.uuid4(), name=name, description=description))
    record(
        session,
        AuditAction.GROUP_CREATE,
        actor_id=admin_id,
        target_type="group",
        target_id=group.id,
        ip=ip,
        details={"name": name},
    )
    return GroupView(group=group, member_count=0)


async def get(session: AsyncSession, group_id: uuid.UUID) -> GroupView:
    found = await repository.get(session, group_id)
    if found is None:
        raise NotFound("group not found")
    return GroupView(group=found[0], member_count=found[1])


async def grantee_name(session: AsyncSession, group_id: uuid.UUID) -> str:
    """The name of a group another domain's request names as a grantee; 422 when there is none (the group
    is a value in that request's body, not its URL)."""
    found = await repository.get(session, group_id)
    if found is None:
        raise Unprocessable("grantee: no such group")
    return found[0].name


async def update(
    session: AsyncSession,
    *,
    admin_id: uuid.UUID,
    group_id: uuid.UUID,
    name: str | None,
    description: str | None,
    ip: str | None,
) -> GroupView:
    view = await get(session, group_id)
    group = view.group
    changes: dict[str, str] = {}
    if name is not None and name != group.name:
        changes["name"] = name
        group.name = name
    if description is not None and description != group.description:
        changes["description"] = description
        group.description = description
    if changes:
        await repository.flush(session, group)
        record(
            session,
            AuditAction.GROUP_UPDATE,
            actor_id=admin_id,
            target_type="group",
            target_id=group.id,
            ip=ip,
            details=changes,
        )
    return GroupView(group=group, member_count=view.member_count)


async def delete(session: AsyncSession, *, admin_id: uuid.UUID, group_id: uuid.UUID, ip: str | None) -> None:
    """Delete a group: its memberships and every knowledge-base grant to it go with it."""
    view = await get(session, group_id)
    await repository.remove(session, group_id)
    record(
        session,
        AuditAction.GROUP_DELETE,
        actor_id=admin_id,
        target_type="group",
        target_id=group_id,
        ip=ip,
        details={"name": view.group.name},
    )


async def list_page(
    session: AsyncSession, *, search: str | None, page: int, page_size: int
) -> tuple[list[GroupView], int]:
    rows, total = await repository.list_page(session, search=search, offset=(page - 1) * page_size, limit=page_size)
    return [GroupView(group=group, member_count=count) for group, count in rows], total


async def of_user(session: AsyncSession, user_id: uuid.UUID) -> list[GroupView]:
    return [GroupView(group=group, member_count=count) for group, count in await repository.of_user(session, user_id)]


async def add_member(
    session: AsyncSession,
    *,
    admin_id: uuid.UUID,
    group_id: uuid.UUID,
    user_id: uuid.UUID | None,
    user_email: str | None,
    ip: str | None,
) -> Membership:
    """Add a user (by id or email) to the group; adding a member again changes nothing."""
    await get(session, group_id)
    user = None
    if user_id is not None:
        user = await user_service.get_by_id_or_none(session, user_id)
    elif user_email is not None:
        user = await user_service.get_by_email(session, user_email)
    if user is None:
        raise Unprocessable("member: no such user")
    added_at = await repository.add_member(session, group_id=group_id, user_id=user.id)
    record(
        session,
        AuditAction.GROUP_MEMBER_ADD,
        actor_id=admin_id,
        target_type="group",
        target_id=group_id,
        ip=ip,
        details={"user_id": str(user.id)},
    )
    return Membership(user=user, added_at=added_at)


async def remove_member(
    session: AsyncSession, *, admin_id: uuid.UUID, group_id: uuid.UUID, user_id: uuid.UUID, ip: str | None
) -> None:
    await get(session, group_id)
    if not await repository.remove_member(session, group_id=group_id, user_id=user_id):
        raise NotFound("this user is not a member of the group")
    record(
        session,
        AuditAction.GROUP_MEMBER_REMOVE,
        actor_id=admin_id,
        target_type="group",
        target_id=group_id,
        ip=ip,
        details={"user_id": str(user_id)},
    )


async def members(
    session: AsyncSession, *, group_id: uuid.UUID, page: int, page_size: int
) -> tuple[list[Membership], int]:
    await get(session, group_id)
    rows, total = await repository.members_page(
        session, group_id=group_id, offset=(page - 1) * page_size, limit=page_size
    )
    return [Membership(user=user, added_at=added_at) for user, added_at in rows], total
