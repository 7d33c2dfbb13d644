"""Custom roles: administrators define roles as sets of permissions and give them to users (their own role) or to
groups (every member holds it too). The built-in `user` and `admin` are not editable.

A caller may only hand out the administration they hold: creating, editing or assigning a role needs every `admin:*`
permission in it, so `admin:roles` alone cannot be turned into more. Everyday permissions (chat, files, curation of
knowledge bases) may be handed out by whoever manages roles, users or groups.

A role still held by users or groups cannot be deleted (409 with how many): falling back silently would change what
people may do without anyone choosing it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from parley.audit.service import AuditAction, record
from parley.auth.permissions import BUILT_IN_ROLES, ROLE_PERMISSIONS, Permission, Role
from parley.errors import Conflict, Forbidden, NotFound, Unprocessable
from parley.models import CustomRole
from parley.roles import repository

_ROLE_DESCRIPTIONS = {
    Role.USER: "Built in: chat, conversations, files and knowledge bases, own profile",
    Role.ADMIN: "Built in: every permission",
}


@dataclass(frozen=True)
class RoleView:
    id: uuid.UUID | None
    name: str
    description: str
    permissions: list[Permission]
    built_in: bool
    user_count: int
    group_count: int
    created_at: datetime | None
    updated_at: datetime | None


async def list_roles(session: AsyncSession) -> list[RoleView]:
    """The built-in roles first, then the custom ones by name, each with how many users and groups hold it."""
    views = []
    for role in Role:
        users, groups = await repository.holders(session, role.value)
        views.append(
            RoleView(
                id=None,
                name=role.value,
                description=_ROLE_DESCRIPTIONS[role],
                permissions=sorted(ROLE_PERMISSIONS[role]),
                built_in=True,
                user_count=users,
                group_count=groups,
                created_at=None,
                updated_at=None,
            )
        )
    for custom in await repository.list_all(session):
        views.append(await _view(session, custom))
    return views


async def create(
    session: AsyncSession,
    *,
    actor_id: uuid.UUID,
    grantor: frozenset[Permission],
    name: str,
    description: str,
    permissions: Collection[Permission],
    ip: str | None,
) -> RoleView:
    _check_name(name)
    _check_grantable(permissions, grantor)
    role = await repository.save(
        session,
        CustomRole(id=uuid.uuid4(), name=name, description=description, permissions=_stored(permissions)),
    )
    record(
        session,
        AuditAction.ROLE_CREATE,
        actor_id=actor_id,
        target_type="role",
        target_id=role.id,
        ip=ip,
        details={"name": role.name, "permissions": role.permissions},
    )
    return await _view(session, role)


async def update(
    session: AsyncSession,
    *,
    actor_id: uuid.UUID,
    grantor: frozenset[Permission],
    role_id: uuid.UUID,
    name: str | None,
    description: str | None,
    permissions: Collection[Permission] | None,
    ip: str | None,
) -> RoleView:
    """Change a role; its holders have the new permissions from their next request."""
    role = await _get(session, role_id)
    _check_grantable(_held(role), grantor)
    changes: dict[str, object] = {}
    if name is not None and name != role.name:
        _check_name(name)
        changes["name"] = {"from": role.name, "to": name}
        await repository.rename_holders(session, role.name, name)
        role.name = name
    if description is not None and description != role.description:
        changes["description"] = {"from": role.description, "to": description}
        role.description = description
    if permissions is not None and _stored(permissions) != sorted(role.permissions):
        _check_grantable(permissions, grantor)
        changes["permissions"] = {"from": sorted(role.permissions), "to": _stored(permissions)}
        role.permissions = _stored(permissions)
    if changes:
        role = await repository.save(session, role)
        record(
            session,
            AuditAction.ROLE_UPDATE,
            actor_id=actor_id,
            target_type="role",
            target_id=role.id,
            ip=ip,
            details=changes,
        )
    return await _view(session, role)


async def delete(
    session: AsyncSession, *, actor_id: uuid.UUID, grantor: frozenset[Permission], role_id: uuid.UUID, ip: str | None
) -> None:
    """Delete a role nobody holds; 409 naming how many users and groups still do."""
    role = await _get(session, role_id)
    _check_grantable(_held(role), grantor)
    users, groups = await repository.holders(session, role.name)
    if users or groups:
        raise Conflict(
            f"the role {role.name!r} is held by {users} user(s) and {groups} group(s); give them another role first"
        )
    await repository.remove(session, role)
    record(
        session,
        AuditAction.ROLE_DELETE,
        actor_id=actor_id,
        target_type="role",
        target_id=role_id,
        ip=ip,
        details={"name": role.name, "permissions": role.permissions},
    )


async def check_assignable(
    session: AsyncSession, name: str, *, grantor: frozenset[Permission], built_in: bool, field: str = "role"
) -> None:
    """That `name` is a role the caller may give (to a user: built-in ones too; to a group: custom ones only):
    422 for a role that does not exist, 403 for one with permissions the caller lacks."""
    if name in BUILT_IN_ROLES:
        if not built_in:
            raise Unprocessable(f"{field}: a group carries a custom role; make users admins one by one")
        _check_grantable(ROLE_PERMISSIONS[Role(name)], grantor)
        return
    role = await repository.get_by_name(session, name)
    if role is None:
        raise Unprocessable(f"{field}: no role named {name!r}")
    _check_grantable(_held(role), grantor)


async def exists(session: AsyncSession, name: str) -> bool:
    """Whether `name` is a built-in or custom role."""
    return name in BUILT_IN_ROLES or await repository.get_by_name(session, name) is not None


async def check_exists(session: AsyncSession, name: str, *, field: str = "role") -> None:
    """That `name` is a built-in or custom role (422 otherwise)."""
    if not await exists(session, name):
        raise Unprocessable(f"{field}: no role named {name!r}")


async def _get(session: AsyncSession, role_id: uuid.UUID) -> CustomRole:
    role = await repository.get(session, role_id)
    if role is None:
        raise NotFound("role not found (the built-in roles cannot be changed)")
    return role


async def _view(session: AsyncSession, role: CustomRole) -> RoleView:
    users, groups = await repository.holders(session, role.name)
    return RoleView(
        id=role.id,
        name=role.name,
        description=role.description,
        permissions=sorted(_held(role)),
        built_in=False,
        user_count=users,
        group_count=groups,
        created_at=role.created_at,
        updated_at=role.updated_at,
    )


def _check_name(name: str) -> None:
    if name in BUILT_IN_ROLES:
        raise Conflict(f"{name!r} is a built-in role; choose another name")


def _check_grantable(permissions: Collection[Permission], grantor: frozenset[Permission]) -> None:
    beyond = sorted(p.value for p in set(permissions) - grantor if p.value.startswith("admin:"))
    if beyond:
        raise Forbidden(f"you can only hand out administration you hold yourself; you lack {', '.join(beyond)}")


def _held(role: CustomRole) -> frozenset[Permission]:
    known = {p.value for p in Permission}
    return frozenset(Permission(value) for value in role.permissions if value in known)


def _stored(permissions: Collection[Permission]) -> list[str]:
    return sorted({p.value for p in permissions})
