"""SCIM provisioning: the identity provider creates, updates, suspends and deletes Parley accounts and groups.

Accounts and groups change through the users and groups services, so SCIM gets what an admin's action gets:
a suspension ends every session, refuses API keys and stops the answers being written, on the next request;
membership changes take effect at once. Every change is audited with the SCIM client as its actor
(`actor_id` null, `details.actor` "scim"). A request that fails part-way raises, and the request's unit of work
rolls back: nothing is half-created."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from parley.audit.service import AuditAction, record
from parley.auth.tokens import hashes_match, token_hash
from parley.errors import NotFound, ParleyError
from parley.groups import service as groups_service
from parley.kit.clock import utcnow
from parley.metrics import instruments as metrics
from parley.models import Group, User
from parley.scim import repository
from parley.scim.errors import invalid
from parley.scim.schemas import GroupFields, PatchOperation, UserFields
from parley.users import service as users_service
from parley.users.service import AnswerStopper

ACTOR = "scim"
# The last provisioning call is remembered to this precision (a write per call would serialise the IdP's calls).
LAST_CALL_PRECISION = timedelta(minutes=1)
TOKEN_PREFIX = "scim-"  # noqa: S105 (a prefix, not a secret)


@dataclass(frozen=True)
class ScimStatus:
    enabled: bool
    settings_token: bool
    token_created_at: datetime | None
    last_call_at: datetime | None


@dataclass(frozen=True)
class Context:
    """Who is calling and what a change must also do: the client's address for the audit trail, and what
    stops a suspended user's answers."""

    ip: str | None
    answers: Sequence[AnswerStopper] = ()


_GROUP_ACTIONS = frozenset(
    {AuditAction.SCIM_GROUP_CREATE, AuditAction.SCIM_GROUP_UPDATE, AuditAction.SCIM_GROUP_DELETE}
)


def _audit(session: AsyncSession, action: AuditAction, context: Context, target: Any, **details: Any) -> None:
    record(
        session,
        action,
        actor_id=None,
        target_type="group" if action in _GROUP_ACTIONS else "user",
        target_id=target,
        ip=context.ip,
        details={"actor": ACTOR, **details},
    )


def refused(session: AsyncSession, context: Context, *, method: str, path: str, error: ParleyError) -> None:
    """Audit a body refused before anything changed; the refusal then keeps (commits) this event alone."""
    record(
        session,
        AuditAction.SCIM_REQUEST_REFUSED,
        actor_id=None,
        target_type="scim",
        target_id=path[:64],
        ip=context.ip,
        details={"actor": ACTOR, "method": method, "detail": error.message[:500], **error.extra},
    )
    error.persist_changes = True


# The client's token


async def authenticate(session: AsyncSession, presented: str, *, configured: SecretStr | None) -> bool:
    """Whether `presented` is the SCIM token (from the settings, or the one admins created); a call that
    authenticates is remembered as the last provisioning call."""
    accepted = configured is not None and secrets.compare_digest(
        presented.encode(), configured.get_secret_value().encode()
    )
    if not accepted:
        state = await repository.state(session)
        accepted = bool(state and state.token_hash and hashes_match(state.token_hash, token_hash(presented)))
    if accepted:
        await repository.record_call(session, utcnow(), every=LAST_CALL_PRECISION)
    else:
        metrics.sign_in_failed("scim")
    return accepted


async def status(session: AsyncSession, *, configured: SecretStr | None) -> ScimStatus:
    state = await repository.state(session)
    has_token = bool(state and state.token_hash)
    return ScimStatus(
        enabled=configured is not None or has_token,
        settings_token=configured is not None,
        token_created_at=state.token_created_at if state and has_token else None,
        last_call_at=state.last_call_at if state else None,
    )


async def rotate_token(session: AsyncSession, *, admin_id: uuid.UUID, ip: str | None) -> tuple[str, datetime]:
    """A new token for the SCIM client, returned once; only its hash is stored, and the previous one stops
    working when this commits."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    created_at = utcnow()
    await repository.store_token(session, token_hash=token_hash(token), created_at=created_at)
    record(session, AuditAction.SCIM_TOKEN_ROTATE, actor_id=admin_id, target_type="scim", ip=ip)
    return token, created_at


# Users


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def get_user(session: AsyncSession, user_id: str) -> User:
    """A provisioned account; a deprovisioned one, like an unknown id, is a 404."""
    parsed = _uuid(user_id)
    user = None if parsed is None else await users_service.get_by_id_or_none(session, parsed)
    if user is None or user.deprovisioned_at is not None:
        raise NotFound(f"User {user_id} not found")
    return user


async def list_users(
    session: AsyncSession, *, filter_: str | None, start_index: int, count: int
) -> tuple[list[User], int]:
    # scim2_models (under filter and patch) is imported by the SCIM requests that use it, not at start-up.
    from parley.scim.filter import user_condition

    condition = user_condition(filter_) if filter_ else None
    return await repository.users_page(session, condition, offset=start_index - 1, limit=count)


def _fields_of(user: User) -> UserFields:
    return UserFields(
        user_name=user.email, display_name=user.full_name, active=user.is_active, external_id=user.external_id
    )


async def _apply_user(session: AsyncSession, user: User, wanted: UserFields, context: Context) -> dict[str, Any]:
    """Store `wanted` on `user`; what changed, for the audit trail."""
    before = _fields_of(user)
    changes: dict[str, Any] = {}
    identity = (users_service.normalise_email(wanted.user_name), wanted.display_name, wanted.external_id)
    if identity != (before.user_name, before.display_name, before.external_id):
        for name, old, new in zip(
            ("userName", "displayName", "externalId"),
            (before.user_name, before.display_name, before.external_id),
            identity,
            strict=True,
        ):
            if old != new:
                changes[name] = {"from": old, "to": new}
        await users_service.set_identity(
            session, user, email=wanted.user_name, full_name=wanted.display_name, external_id=wanted.external_id
        )
    if wanted.active is not None and wanted.active != user.is_active:
        changes["active"] = {"from": user.is_active, "to": wanted.active}
        await users_service.set_active(
            session,
            admin=None,
            user_id=user.id,
            active=wanted.active,
            ip=context.ip,
            answers=context.answers,
            via=ACTOR,
        )
    return changes


async def create_user(session: AsyncSession, fields: UserFields, context: Context) -> User:
    user = await users_service.provision(
        session, email=fields.user_name, full_name=fields.display_name, external_id=fields.external_id
    )
    if fields.active is False:
        await _apply_user(session, user, fields, context)
    _audit(session, AuditAction.SCIM_USER_CREATE, context, user.id, userName=user.email, active=user.is_active)
    return user


async def replace_user(session: AsyncSession, user_id: str, fields: UserFields, context: Context) -> User:
    user = await get_user(session, user_id)
    if changes := await _apply_user(session, user, fields, context):
        _audit(session, AuditAction.SCIM_USER_UPDATE, context, user.id, changes=changes)
    return user


async def patch_user_with(
    session: AsyncSession, user_id: str, operations: list[PatchOperation], context: Context
) -> User:
    user = await get_user(session, user_id)
    from parley.scim.patch import patch_user

    wanted = patch_user(_fields_of(user), operations)
    if changes := await _apply_user(session, user, wanted, context):
        _audit(session, AuditAction.SCIM_USER_UPDATE, context, user.id, changes=changes)
    return user


async def delete_user(session: AsyncSession, user_id: str, context: Context) -> None:
    """The IdP deleted the account: suspended at once, out of every group, gone from SCIM (its data stays)."""
    user = await get_user(session, user_id)
    await users_service.deprovision(session, user_id=user.id, answers=context.answers, via=ACTOR)
    await groups_service.leave_all(session, user.id)
    _audit(session, AuditAction.SCIM_USER_DELETE, context, user.id, userName=user.email)


# Groups


async def get_group(session: AsyncSession, group_id: str) -> Group:
    parsed = _uuid(group_id)
    if parsed is None:
        raise NotFound(f"Group {group_id} not found")
    try:
        return (await groups_service.get(session, parsed)).group
    except NotFound as exc:
        raise NotFound(f"Group {group_id} not found") from exc


async def list_groups(
    session: AsyncSession, *, filter_: str | None, start_index: int, count: int
) -> tuple[list[Group], int]:
    from parley.scim.filter import group_condition

    condition = group_condition(filter_) if filter_ else None
    return await repository.groups_page(session, condition, offset=start_index - 1, limit=count)


async def members_of(session: AsyncSession, groups: list[Group]) -> dict[uuid.UUID, list[User]]:
    return await repository.members_of(session, [group.id for group in groups])


async def _resolve_members(session: AsyncSession, member_ids: list[str]) -> list[uuid.UUID]:
    """The users a group's members name; an id that is no provisioned user is a 400 (nothing is changed)."""
    resolved: list[uuid.UUID] = []
    for member_id in member_ids:
        parsed = _uuid(member_id)
        user = None if parsed is None else await users_service.get_by_id_or_none(session, parsed)
        if user is None or user.deprovisioned_at is not None:
            raise invalid(f"members: no such user: {member_id}", "invalidValue")
        if user.id not in resolved:
            resolved.append(user.id)
    return resolved


async def _apply_group(session: AsyncSession, group: Group, wanted: GroupFields, context: Context) -> dict[str, Any]:
    members = await _resolve_members(session, wanted.members)
    current = [user.id for user in (await repository.members_of(session, [group.id]))[group.id]]
    changes: dict[str, Any] = {}
    if wanted.display_name != group.name:
        changes["displayName"] = {"from": group.name, "to": wanted.display_name}
        await groups_service.update(
            session, admin_id=None, group_id=group.id, name=wanted.display_name, description=None, ip=context.ip
        )
    if wanted.external_id != group.external_id:
        changes["externalId"] = {"from": group.external_id, "to": wanted.external_id}
        await groups_service.set_external_id(session, group_id=group.id, external_id=wanted.external_id)
    added = [user_id for user_id in members if user_id not in current]
    removed = [user_id for user_id in current if user_id not in members]
    for user_id in added:
        await groups_service.add_member(
            session, admin_id=None, group_id=group.id, user_id=user_id, user_email=None, ip=context.ip
        )
    for user_id in removed:
        await groups_service.remove_member(session, admin_id=None, group_id=group.id, user_id=user_id, ip=context.ip)
    if added:
        changes["members_added"] = [str(user_id) for user_id in added]
    if removed:
        changes["members_removed"] = [str(user_id) for user_id in removed]
    return changes


async def create_group(session: AsyncSession, fields: GroupFields, context: Context) -> Group:
    await _resolve_members(session, fields.members)
    view = await groups_service.create(session, admin_id=None, name=fields.display_name, description="", ip=context.ip)
    changes = await _apply_group(session, view.group, fields, context)
    _audit(
        session,
        AuditAction.SCIM_GROUP_CREATE,
        context,
        view.group.id,
        displayName=fields.display_name,
        members=changes.get("members_added", []),
    )
    return view.group


async def _group_fields(session: AsyncSession, group: Group) -> GroupFields:
    members = (await repository.members_of(session, [group.id]))[group.id]
    return GroupFields(
        display_name=group.name, external_id=group.external_id, members=[str(user.id) for user in members]
    )


async def replace_group(session: AsyncSession, group_id: str, fields: GroupFields, context: Context) -> Group:
    group = await get_group(session, group_id)
    if changes := await _apply_group(session, group, fields, context):
        _audit(session, AuditAction.SCIM_GROUP_UPDATE, context, group.id, changes=changes)
    return group


async def patch_group_with(
    session: AsyncSession, group_id: str, operations: list[PatchOperation], context: Context
) -> Group:
    group = await get_group(session, group_id)
    from parley.scim.patch import patch_group

    wanted = patch_group(await _group_fields(session, group), operations)
    if changes := await _apply_group(session, group, wanted, context):
        _audit(session, AuditAction.SCIM_GROUP_UPDATE, context, group.id, changes=changes)
    return group


async def delete_group(session: AsyncSession, group_id: str, context: Context) -> None:
    group = await get_group(session, group_id)
    await groups_service.delete(session, admin_id=None, group_id=group.id, ip=context.ip)
    _audit(session, AuditAction.SCIM_GROUP_DELETE, context, group.id, displayName=group.name)
