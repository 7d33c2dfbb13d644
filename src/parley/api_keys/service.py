"""API keys: long-lived credentials for programs (SDKs, scripts), limited by scopes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from parley.api_keys import repository
from parley.audit.service import AuditAction, record
from parley.auth import permissions
from parley.auth.permissions import Permission, default_api_key_scopes, known_permissions
from parley.auth.tokens import api_key_id, hashes_match, new_api_key, token_hash
from parley.errors import NotFound, Unprocessable
from parley.kit.clock import utcnow
from parley.models import ApiKey, User


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    secret: str


async def create(
    session: AsyncSession,
    user: User,
    *,
    allowed: frozenset[Permission],
    name: str,
    scopes: Iterable[Permission] | None,
    expires_in_days: int | None,
    ip: str | None,
) -> CreatedApiKey:
    """A new key for `user`; its scopes may not exceed `allowed`, what the user may do now (their roles')."""
    wanted = frozenset(scopes) if scopes is not None else default_api_key_scopes(allowed)
    beyond = sorted(scope.value for scope in wanted - allowed)
    if beyond:
        raise Unprocessable(f"scopes: your role does not allow {', '.join(beyond)}")
    if not wanted:
        raise Unprocessable("scopes: a key needs at least one scope")
    secret, public_id = new_api_key()
    api_key = await repository.add(
        session,
        ApiKey(
            id=uuid.uuid4(),
            user_id=user.id,
            name=name.strip(),
            prefix=public_id,
            secret_hash=token_hash(secret),
            scopes=sorted(scope.value for scope in wanted),
            expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
        ),
    )
    record(
        session,
        AuditAction.API_KEY_CREATE,
        actor_id=user.id,
        target_type="api_key",
        target_id=api_key.id,
        ip=ip,
        details={"name": api_key.name, "scopes": api_key.scopes},
    )
    return CreatedApiKey(api_key=api_key, secret=secret)


async def list_for(session: AsyncSession, user: User) -> list[ApiKey]:
    return await repository.list_of_user(session, user.id)


async def revoke(session: AsyncSession, user: User, key_id: uuid.UUID, *, ip: str | None) -> None:
    if not await repository.revoke(session, user_id=user.id, key_id=key_id):
        raise NotFound("API key not found")
    record(session, AuditAction.API_KEY_REVOKE, actor_id=user.id, target_type="api_key", target_id=key_id, ip=ip)


async def resolve(session: AsyncSession, presented: str) -> tuple[ApiKey, User, frozenset[Permission]] | None:
    """The live key matching a presented secret, its owner (as stored now: the caller checks the account is
    active) and what the owner may do now (their role's and their groups' roles' permissions), or None (unknown,
    wrong secret, revoked or expired)."""
    public_id = api_key_id(presented)
    if public_id is None:
        return None
    found = await repository.get_with_owner(session, public_id)
    if found is None:
        return None
    api_key, owner, custom = found
    if not hashes_match(api_key.secret_hash, token_hash(presented)):
        return None
    now = utcnow()
    if api_key.revoked_at is not None or (api_key.expires_at is not None and api_key.expires_at <= now):
        return None
    # `last_used_at` has a resolution of a minute: most calls need no write at all.
    if api_key.last_used_at is None or api_key.last_used_at < now - repository.LAST_USED_RESOLUTION:
        await repository.touch(session, api_key.id, now)
    return api_key, owner, permissions.resolve(owner.role, custom)


def effective_scopes(api_key: ApiKey, owner_permissions: frozenset[Permission]) -> frozenset[Permission]:
    """A key can do what its scopes say, and never more than its owner may do today: a permission the owner
    lost (a role changed, a group left) is gone from their keys on the next request."""
    return known_permissions(api_key.scopes) & owner_permissions
