"""Groups: administrators keep named sets of users (teams, departments) so that a knowledge base can be shared
with all of them at once. Membership is read by the access SQL on every request: adding or removing a member
takes effect on their next request, and deleting a group withdraws everything shared with it."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from parley.audit.service import AuditAction, record
from parley.auth.permissions import Permission
from parley.errors import NotFound, Unprocessable
from parley.groups import repository
from parley.models import Group, User
from parley.policy.catalogue import unknown_models
from parley.policy.quotas import GroupLimits, stored
from parley.roles import service as roles_service
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
    session: AsyncSession, *, admin_id: uuid.UUID | None, name: str, description: str, ip: str | None
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
    admin_id: uuid.UUID | None,
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


async def set_role(
    session: AsyncSession,
    *,
    admin_id: uuid.UUID,
    group_id: uuid.UUID,
    role: str | None,
    grantor: frozenset[Permission],
    ip: str | None,
) -> GroupView:
    """Give the group a custom role every member holds on top of their own (None: take it away). The admin must
    hold every permission of the role given and of the role taken away; members have the change from their next
    request."""
    view = await get(session, group_id)
    group = view.group
    if role == group.role:
        return view
    for name in (group.role, role):
        if name is not None:
            await roles_service.check_assignable(session, name, grantor=grantor, built_in=False)
    record(
        session,
        AuditAction.GROUP_UPDATE,
        actor_id=admin_id,
        target_type="group",
        target_id=group.id,
        ip=ip,
        details={"role": {"from": group.role, "to": role}},
    )
    group.role = role
    await repository.flush(session, group)
    return GroupView(group=group, member_count=view.member_count)


async def check_membership_grantable(
    session: AsyncSession, group_id: uuid.UUID, *, grantor: frozenset[Permission]
) -> None:
    """Joining or leaving a group with a role gives or takes that role: an admin may change its members only
    when they hold every permission of the role (so `admin:groups` cannot be turned into more)."""
    group = (await get(session, group_id)).group
    if group.role is not None:
        await roles_service.check_assignable(session, group.role, grantor=grantor, built_in=False)


async def delete(session: AsyncSession, *, admin_id: uuid.UUID | None, group_id: uuid.UUID, ip: str | None) -> None:
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
    admin_id: uuid.UUID | None,
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
    session: AsyncSession, *, admin_id: uuid.UUID | None, group_id: uuid.UUID, user_id: uuid.UUID, ip: str | None
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


async def limits_of_member(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[uuid.UUID, str, dict[str, Any]]]:
    """The limits (stored overrides, `policy.quotas.GroupLimits` keys) of each group of `user_id` that has any:
    (group id, group name, limits)."""
    return await repository.limits_of_member(session, user_id)


def member_limits(user_id: uuid.UUID) -> ColumnElement[Any]:
    """`limits_of_member` as an expression for one statement that reads more (`decode_member_limits` reads it)."""
    return repository.member_limits(user_id)


def decode_member_limits(value: Any) -> list[tuple[uuid.UUID, str, dict[str, Any]]]:
    return [(uuid.UUID(group_id), name, dict(limits)) for group_id, name, limits in value or ()]


async def set_limits(
    session: AsyncSession,
    *,
    admin_id: uuid.UUID | None,
    group_id: uuid.UUID,
    limits: GroupLimits,
    catalogue: Collection[str],
    ip: str | None,
) -> dict[str, Any]:
    """Replace the limits a group gives its members (only the keys given; a member gets the most generous of
    their plan's and their groups' values) and its shared monthly budget. A model outside the catalogue is
    refused (422). Returns what is stored."""
    group = (await get(session, group_id)).group
    if unknown := unknown_models(limits, catalogue):
        raise Unprocessable(f"models: not in the model catalogue: {', '.join(unknown)}", models=unknown)
    before, kept = group.limits, stored(limits)
    await repository.set_limits(session, group, kept)
    record(
        session,
        AuditAction.GROUP_LIMITS_PUT,
        actor_id=admin_id,
        target_type="group",
        target_id=group.id,
        ip=ip,
        details={"from": before, "to": kept},
    )
    return kept


async def clear_limits(
    session: AsyncSession, *, admin_id: uuid.UUID | None, group_id: uuid.UUID, ip: str | None
) -> None:
    """Remove a group's limits and shared budget. Clearing none changes (and audits) nothing."""
    group = (await get(session, group_id)).group
    if group.limits is None:
        return
    before = group.limits
    await repository.set_limits(session, group, None)
    record(
        session,
        AuditAction.GROUP_LIMITS_DELETE,
        actor_id=admin_id,
        target_type="group",
        target_id=group.id,
        ip=ip,
        details={"from": before, "to": None},
    )


# Provisioning by an identity provider (SCIM, issue 12); `admin_id` None above is that machine client.


async def set_external_id(session: AsyncSession, *, group_id: uuid.UUID, external_id: str | None) -> GroupView:
    """Store the identity provider's id for the group (SCIM `externalId`)."""
    view = await get(session, group_id)
    view.group.external_id = external_id
    await repository.flush(session, view.group)
    return view


async def all_members(session: AsyncSession, group_id: uuid.UUID) -> list[User]:
    """Every member of the group, by email (SCIM returns a group with all its members)."""
    rows, _ = await repository.members_page(session, group_id=group_id, offset=0, limit=None)
    return [user for user, _ in rows]


async def leave_all(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Take the user out of every group (a deprovisioned account)."""
    await repository.remove_user_everywhere(session, user_id)
