"""Roles as permission sets, and API-key scopes as a subset of them.

Two roles are built in and never change: `user` (chat, conversations, files, profile) and `admin` (every
permission but `knowledge_bases:manage`: curating everyone's knowledge bases is given on purpose, through a role,
so an admin does not read private knowledge bases by default). Administrators define further roles
(`parley.roles`) as sets of these permissions; a user holds the union of their own role's permissions and those
of their groups' roles.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Permission(StrEnum):
    PROFILE_READ = "profile:read"
    PROFILE_WRITE = "profile:write"
    CONVERSATIONS_READ = "conversations:read"
    CONVERSATIONS_WRITE = "conversations:write"
    CHAT = "chat"
    # Upload, list, download and delete files; create and share knowledge bases.
    FILES_READ = "files:read"
    FILES_WRITE = "files:write"
    # Curators: read, edit and share every knowledge base of the organisation, not only those granted to them.
    KNOWLEDGE_BASES_MANAGE = "knowledge_bases:manage"
    # Accounts: list, edit, suspend, limits, and SCIM provisioning.
    ADMIN_USERS = "admin:users"
    # Read the audit log (read-only: an auditor changes nothing).
    ADMIN_AUDIT = "admin:audit"
    # Organisation analytics and the chargeback export.
    ADMIN_ANALYTICS = "admin:analytics"
    # The catalogue of configured models.
    ADMIN_MODELS = "admin:models"
    # Plans (limits per subscription tier).
    ADMIN_PLANS = "admin:plans"
    # Groups, their members, limits and role.
    ADMIN_GROUPS = "admin:groups"
    # Custom roles.
    ADMIN_ROLES = "admin:roles"
    # The Review queue: reports of answers (suspending the reporter's account also needs `admin:users`).
    ADMIN_REPORTS = "admin:reports"


class Role(StrEnum):
    """The built-in roles (custom roles live in the `roles` table)."""

    USER = "user"
    ADMIN = "admin"


BUILT_IN_ROLES = frozenset(role.value for role in Role)

_USER_PERMISSIONS = frozenset(
    {
        Permission.PROFILE_READ,
        Permission.PROFILE_WRITE,
        Permission.CONVERSATIONS_READ,
        Permission.CONVERSATIONS_WRITE,
        Permission.CHAT,
        Permission.FILES_READ,
        Permission.FILES_WRITE,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.USER: _USER_PERMISSIONS,
    Role.ADMIN: frozenset(Permission) - {Permission.KNOWLEDGE_BASES_MANAGE},
}


def permissions_of(role: str) -> frozenset[Permission]:
    """The permissions of a built-in role name; any other name grants nothing here (a custom role's permissions
    come from the `roles` table, see `resolve`)."""
    try:
        return ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return frozenset()


def known_permissions(values: Iterable[str]) -> frozenset[Permission]:
    """The permissions among stored strings; one this version does not know (a downgrade) grants nothing."""
    known = {permission.value for permission in Permission}
    return frozenset(Permission(value) for value in values if value in known)


def resolve(role: str, custom: Iterable[str] = ()) -> frozenset[Permission]:
    """A user's permissions: their built-in role's, plus `custom`, the permissions of the custom roles they hold
    (their own role when it is a custom one, and their groups' roles), read with the user in one statement."""
    return permissions_of(role) | known_permissions(custom)


def default_api_key_scopes(permissions: frozenset[Permission]) -> frozenset[Permission]:
    """What a new key may do when its creator names no scopes: everything they may do but administration."""
    return frozenset(p for p in permissions if not p.value.startswith("admin:"))
