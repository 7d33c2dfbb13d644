"""Users: accounts, profiles, password changes, and what administrators do to accounts."""

from __future__ import annotations

import functools
import secrets
import uuid
from collections.abc import Collection, Sequence
from types import EllipsisType
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.audit.service import AuditAction, record
from parley.auth import sessions as auth_sessions
from parley.auth.passwords import Passwords, password_problem
from parley.auth.permissions import Permission, Role
from parley.db import after_commit
from parley.errors import Conflict, NotFound, Unprocessable
from parley.kit.clock import utcnow
from parley.models import User
from parley.policy.catalogue import unknown_models
from parley.policy.quotas import LimitOverrides, stored
from parley.roles import service as roles_service
from parley.users import repository

SUBSCRIPTION_TIERS = ("free", "pro", "enterprise")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_password(password: str, *, email: str, min_length: int) -> None:
    problem = password_problem(password, email=email, min_length=min_length)
    if problem:
        raise Unprocessable(f"password: {problem}")


async def create_user(
    session: AsyncSession,
    passwords: Passwords,
    *,
    email: str,
    password: str,
    full_name: str | None = None,
    role: Role = Role.USER,
    password_min_length: int = 12,
) -> User:
    """A new account; the email is normalised and must be unused, the password must pass the policy."""
    email = normalise_email(email)
    check_password(password, email=email, min_length=password_min_length)
    user = User(
        id=uuid.uuid4(),
        email=email,
        hashed_password=await passwords.hash(password),
        full_name=full_name.strip() if full_name else None,
        role=role.value,
    )
    return await repository.add(session, user)


async def create_external_user(session: AsyncSession, *, email: str, full_name: str | None) -> User:
    """An account created at its first single sign-on: no password (it signs in only through its provider)."""
    user = User(
        id=uuid.uuid4(),
        email=normalise_email(email),
        hashed_password=None,
        full_name=full_name.strip()[:200] if full_name else None,
        role=Role.USER.value,
    )
    return await repository.add(session, user)


async def get(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await repository.get(session, user_id)
    if user is None:
        raise NotFound("user not found")
    return user


async def get_by_id_or_none(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await repository.get(session, user_id)


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    return await repository.get_by_email(session, normalise_email(email))


async def suspended_among(session: AsyncSession, user_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """Which of `user_ids` are suspended now (deleted accounts are not listed)."""
    return await repository.suspended_among(session, user_ids)


async def update_profile(
    session: AsyncSession,
    passwords: Passwords,
    user: User,
    *,
    full_name: str | None = None,
    full_name_set: bool = False,
    current_password: str | None = None,
    new_password: str | None = None,
    keep_session: uuid.UUID | None = None,
    ip: str | None = None,
    password_min_length: int = 12,
) -> User:
    """Change one's own name and/or password. A password change needs the current password and signs out
    every other session."""
    if full_name_set:
        user.full_name = full_name.strip() if full_name else None
    if new_password is not None:
        if not current_password or not await passwords.verify(user.hashed_password, current_password):
            raise Unprocessable("current_password: the current password is not correct")
        check_password(new_password, email=user.email, min_length=password_min_length)
        user.hashed_password = await passwords.hash(new_password)
        await auth_sessions.revoke_user_sessions(session, user.id, except_family=keep_session)
        record(
            session,
            AuditAction.PASSWORD_CHANGE,
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
            ip=ip,
        )
    return await repository.flush(session, user)


async def list_users(
    session: AsyncSession,
    *,
    search: str | None = None,
    role: str | None = None,
    is_active: bool | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[User], int]:
    """A page of users; filtering by a role that does not exist is a 422 (a typo, not an empty result)."""
    if role is not None:
        await roles_service.check_exists(session, role, field="role")
    return await repository.list_page(
        session,
        search=search,
        role=role,
        is_active=is_active,
        offset=(page - 1) * page_size,
        limit=page_size,
    )


class AnswerStopper(Protocol):
    """What stops the answers being written for a user, wherever they run (the chat engine's answers, the
    `/v1` completions streaming)."""

    def stop_answers_of(self, user_id: uuid.UUID) -> None: ...


async def set_active(
    session: AsyncSession,
    *,
    admin: User | None,
    user_id: uuid.UUID,
    active: bool,
    ip: str | None,
    answers: Sequence[AnswerStopper] = (),
    via: str | None = None,
) -> User:
    """Suspend or reinstate an account. Suspension takes effect on the user's very next call: every
    credential is checked against `is_active`, every session is ended, and the answers being written for
    the user are stopped (once the suspension is committed, so one started meanwhile is stopped too).
    `admin` is None when a machine client does it (`via` names it in the audit event, e.g. "scim")."""
    user = await get(session, user_id)
    if not active:
        if admin is not None and user.id == admin.id:
            raise Conflict("you cannot suspend your own account")
        if user.role == Role.ADMIN and user.is_active and await repository.count_active_admins(session) <= 1:
            raise Conflict("the last active admin cannot be suspended")
        await auth_sessions.revoke_user_sessions(session, user.id)
        suspended_id = user.id
        for stopper in answers:
            after_commit(session, functools.partial(stopper.stop_answers_of, suspended_id), on_rollback=lambda: None)
    user.is_active = active
    action = AuditAction.ADMIN_USER_UNSUSPEND if active else AuditAction.ADMIN_USER_SUSPEND
    record(
        session,
        action,
        actor_id=admin.id if admin else None,
        target_type="user",
        target_id=user.id,
        ip=ip,
        details={"via": via} if via else None,
    )
    return await repository.flush(session, user)


async def admin_update(
    session: AsyncSession,
    *,
    admin: User,
    user_id: uuid.UUID,
    role: str | None,
    subscription_tier: str | None,
    ip: str | None,
    grantor: frozenset[Permission],
    cost_centre: str | EllipsisType | None = ...,
) -> User:
    """Apply an admin's changes to an account and audit what changed; `...` for cost_centre leaves it as is.
    `role` is a built-in or custom role the admin may give (`grantor`: what they hold)."""
    user = await get(session, user_id)
    changes: dict[str, dict[str, str]] = {}
    if role is not None and role != user.role:
        await roles_service.check_assignable(session, role, grantor=grantor, built_in=True)
        if user.role == Role.ADMIN and user.is_active and await repository.count_active_admins(session) <= 1:
            raise Conflict("the last active admin cannot lose the admin role")
        changes["role"] = {"from": user.role, "to": role}
        user.role = role
    if subscription_tier is not None and subscription_tier != user.subscription_tier:
        changes["subscription_tier"] = {"from": user.subscription_tier, "to": subscription_tier}
        user.subscription_tier = subscription_tier
    if not isinstance(cost_centre, EllipsisType) and cost_centre != user.cost_centre:
        changes["cost_centre"] = {"from": user.cost_centre or "", "to": cost_centre or ""}
        user.cost_centre = cost_centre
    if changes:
        record(
            session,
            AuditAction.ADMIN_USER_UPDATE,
            actor_id=admin.id,
            target_type="user",
            target_id=user.id,
            ip=ip,
            details=changes,
        )
    return await repository.flush(session, user)


async def set_limits(
    session: AsyncSession,
    *,
    admin_id: uuid.UUID,
    user_id: uuid.UUID,
    overrides: LimitOverrides,
    catalogue: Collection[str],
    ip: str | None,
) -> dict[str, Any]:
    """Replace a user's overrides of their plan's limits with `overrides` (only the keys given; an explicit
    value wins over the plan and the user's groups). A model outside the catalogue is refused (422). Returns
    what is stored."""
    user = await get(session, user_id)
    if unknown := unknown_models(overrides, catalogue):
        raise Unprocessable(f"models: not in the model catalogue: {', '.join(unknown)}", models=unknown)
    before, limits = user.limits, stored(overrides)
    await repository.set_limits(session, user, limits)
    record(
        session,
        AuditAction.USER_LIMITS_PUT,
        actor_id=admin_id,
        target_type="user",
        target_id=user.id,
        ip=ip,
        details={"from": before, "to": limits},
    )
    return limits


async def clear_limits(session: AsyncSession, *, admin_id: uuid.UUID, user_id: uuid.UUID, ip: str | None) -> None:
    """Remove a user's overrides: their plan and groups decide again. Clearing none changes (and audits) nothing."""
    user = await get(session, user_id)
    if user.limits is None:
        return
    before = user.limits
    await repository.set_limits(session, user, None)
    record(
        session,
        AuditAction.USER_LIMITS_DELETE,
        actor_id=admin_id,
        target_type="user",
        target_id=user.id,
        ip=ip,
        details={"from": before, "to": None},
    )


async def create_admin(
    session: AsyncSession,
    passwords: Passwords,
    *,
    email: str,
    password: str | None,
    password_min_length: int = 12,
) -> tuple[User, str | None]:
    """An admin account; returns the generated password when none was given (to be shown once)."""
    generated = None if password else secrets.token_urlsafe(18)
    user = await create_user(
        session,
        passwords,
        email=email,
        password=password or generated or "",
        role=Role.ADMIN,
        password_min_length=password_min_length,
    )
    record(session, AuditAction.ADMIN_USER_CREATE, actor_id=None, target_type="user", target_id=user.id)
    return user, generated


async def has_users(session: AsyncSession) -> bool:
    return await repository.any_exist(session)


# Provisioning by an identity provider (SCIM, issue 12): accounts without a password, which sign in through
# single sign-on; the caller (scim.service) audits what it changes.


async def provision(session: AsyncSession, *, email: str, full_name: str | None, external_id: str | None) -> User:
    """An account the identity provider creates. An account it deprovisioned earlier under the same email is
    taken back (reinstated, the IdP's new ids and name set) rather than refused, as IdPs re-create an account
    they deleted and restored; any other account holding the email is a 409."""
    email = normalise_email(email)
    existing = await repository.get_by_email(session, email)
    if existing is not None and existing.deprovisioned_at is not None:
        existing.deprovisioned_at = None
        existing.is_active = True
        existing.full_name = full_name
        existing.external_id = external_id
        return await repository.flush(session, existing)
    user = User(id=uuid.uuid4(), email=email, hashed_password=None, full_name=full_name, external_id=external_id)
    return await repository.add(session, user)


async def set_identity(
    session: AsyncSession, user: User, *, email: str, full_name: str | None, external_id: str | None
) -> User:
    """Set what the identity provider owns of an account: its email (still unique: a taken one is a 409), name
    and external id."""
    user.email = normalise_email(email)
    user.full_name = full_name
    user.external_id = external_id
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("an account with this email already exists") from exc
    return await repository.flush(session, user)


async def deprovision(session: AsyncSession, *, user_id: uuid.UUID, answers: Sequence[AnswerStopper], via: str) -> User:
    """The identity provider deleted the account: it is suspended at once (the same path as an admin's
    suspension: sessions ended, answers stopped, API keys refused) and marked deprovisioned. Its conversations
    and files stay for retention; an admin can still see it (suspended)."""
    user = await set_active(session, admin=None, user_id=user_id, active=False, ip=None, answers=answers, via=via)
    user.deprovisioned_at = utcnow()
    return await repository.flush(session, user)
