"""Roles as permission sets, and API-key scopes as a subset of them."""

from __future__ import annotations

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
    ADMIN_USERS = "admin:users"
    ADMIN_AUDIT = "admin:audit"


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


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
    Role.ADMIN: _USER_PERMISSIONS | {Permission.ADMIN_USERS, Permission.ADMIN_AUDIT},
}


def permissions_of(role: str) -> frozenset[Permission]:
    """The permissions of a stored role name; an unknown role grants nothing."""
    try:
        return ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return frozenset()


def default_api_key_scopes(role: str) -> frozenset[Permission]:
    """What a new key may do when its creator names no scopes: everything but administration."""
    return frozenset(p for p in permissions_of(role) if not p.value.startswith("admin:"))
