"""Signing in an identity that another system vouches for (an OpenID Provider today, a SAML IdP next).

The protocol modules (`identity.oidc`, later `identity.saml`) prove who the user is at the provider and hand over
an `ExternalProfile`; this service decides what that means in Parley, the same way for every protocol:

- an identity seen before signs in to the account it is linked to (by the provider's subject, never the email);
- a new identity is linked to an existing account only when the provider says the email is verified (otherwise
  anyone who can type a colleague's address at a lax provider would get the colleague's account); without an
  account of that email, one is created just in time, also only for a verified email (an account created for an
  unproven address would be linked later to whoever proves it: pre-account takeover);
- an email outside the provider's allowed domains, or a suspended account, is refused;
- the role follows the provider's groups when the settings name admin groups or groups for other roles (custom
  roles included: a role named that does not exist gives `user`, the least), and the groups the provider keeps
  (`ExternalGroup`) follow the claim at each sign-in; groups administrators made in Parley are never touched.

Every refusal raises `SignInRefused` before anything is written, and the caller records it (`record_refusal`).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from parley.audit.service import AuditAction, record
from parley.auth.permissions import Role
from parley.errors import Conflict, ParleyError
from parley.identity import repository
from parley.identity.mapping import GroupRoleMapping
from parley.kit.clock import utcnow
from parley.metrics import instruments as metrics
from parley.models import ExternalIdentity, Group, SsoLoginRequest, User
from parley.roles import service as roles_service
from parley.users import service as user_service


class SignInRefused(ParleyError):
    """A single sign-on that did not end signed in. `code` names the reason for the web app (which shows its
    own words for it) and the audit trail; the message says it to a person."""

    status = 403

    def __init__(self, code: str, message: str, *, status: int = 403) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class ExternalProfile:
    """Who a provider says the user is. `subject` is the provider's stable id for them."""

    kind: str
    provider: str
    subject: str
    email: str | None
    email_verified: bool
    full_name: str | None = None
    groups: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class IdentityPolicy:
    """What a provider's settings say about the users it signs in."""

    allowed_email_domains: list[str] = field(default_factory=list)
    # Non-empty: members of any of these groups are admins, everyone else a user (the provider decides roles).
    admin_groups: list[str] = field(default_factory=list)
    # Group → role (built in or custom): members of a group get its role, the first that matches in this order
    # (admin groups first). Non-empty: the provider decides roles, as with admin groups.
    role_groups: dict[str, str] = field(default_factory=dict)
    sync_groups: bool = False

    @classmethod
    def of(cls, mapping: GroupRoleMapping, *, allowed_email_domains: list[str]) -> IdentityPolicy:
        """The policy a provider's settings give (its role and group mapping, its allowed domains)."""
        return cls(
            allowed_email_domains=allowed_email_domains,
            admin_groups=mapping.admin_groups,
            role_groups=mapping.role_groups,
            sync_groups=mapping.sync_groups,
        )

    @property
    def decides_roles(self) -> bool:
        return bool(self.admin_groups or self.role_groups)


async def sign_in(session: AsyncSession, profile: ExternalProfile, policy: IdentityPolicy, *, ip: str | None) -> User:
    """The Parley account this external identity signs in to, created or linked as needed, with its role and
    synced groups brought up to date. Raises `SignInRefused` (nothing written) when it may not sign in."""
    email = user_service.normalise_email(profile.email) if profile.email else None
    if not email or "@" not in email:
        raise SignInRefused("email_missing", "The identity provider did not say which email address you have.")
    domain = email.rsplit("@", 1)[1]
    if policy.allowed_email_domains and domain not in policy.allowed_email_domains:
        raise SignInRefused("domain_not_allowed", f"Accounts of {domain} may not sign in here.")

    identity = await repository.find_identity(
        session, kind=profile.kind, provider=profile.provider, subject=profile.subject
    )
    user: User | None
    created = linked = False
    if identity is not None:
        user = await user_service.get(session, identity.user_id)
    else:
        user = await user_service.get_by_email(session, email)
        if not profile.email_verified:
            raise SignInRefused(
                "email_not_verified",
                "The identity provider has not verified your email address, so no account can be linked to it or "
                "created for it. Ask your administrator."
                if user is None
                else "An account with this email exists, but the identity provider has not verified the address, "
                "so it cannot be linked. Ask your administrator.",
            )
    if user is not None and not user.is_active:
        raise SignInRefused("account_suspended", "This account is suspended. Contact your administrator.")

    # Nothing is refused past this point: writes begin.
    try:
        if user is None:
            user = await user_service.create_external_user(session, email=email, full_name=profile.full_name)
            created = True
        if identity is None:
            identity = await repository.add_identity(
                session,
                ExternalIdentity(
                    id=uuid.uuid4(),
                    kind=profile.kind,
                    provider=profile.provider,
                    subject=profile.subject,
                    user_id=user.id,
                ),
            )
            linked = not created
    except Conflict as exc:
        # The same person's first sign-in in two windows at once: the other one created the account or link.
        raise SignInRefused("sign_in_race", "You are signing in in another window too. Sign in again.") from exc
    identity.email = email
    identity.last_login_at = utcnow()
    details = {"kind": profile.kind, "provider": profile.provider}
    if created:
        record(
            session,
            AuditAction.SSO_USER_CREATE,
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
            ip=ip,
            details=details,
        )
    if linked:
        record(
            session,
            AuditAction.SSO_LINK,
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
            ip=ip,
            details=details,
        )
    if not user.full_name and profile.full_name:
        user.full_name = profile.full_name.strip()[:200]
    if policy.decides_roles:
        await _apply_role(session, user, profile, policy, ip=ip)
    if policy.sync_groups:
        await _sync_groups(session, user, profile, ip=ip)
    return user


async def _apply_role(
    session: AsyncSession, user: User, profile: ExternalProfile, policy: IdentityPolicy, *, ip: str | None
) -> None:
    held = {group.lower() for group in profile.groups}
    role: str = Role.USER.value
    unknown: str | None = None
    if any(group.lower() in held for group in policy.admin_groups):
        role = Role.ADMIN.value
    else:
        named = next((name for group, name in policy.role_groups.items() if group.lower() in held), None)
        if named is not None and await roles_service.exists(session, named):
            role = named
        elif named is not None:
            # The settings name a role nobody created (or one since deleted): the least role, and the audit
            # trail says why, for the administrator to fix.
            unknown = named
    if user.role != role or unknown is not None:
        details = {"from": user.role, "to": role, "provider": profile.provider}
        if unknown is not None:
            details["unknown_role"] = unknown
        record(
            session,
            AuditAction.SSO_ROLE_CHANGE,
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
            ip=ip,
            details=details,
        )
        user.role = role


async def _sync_groups(session: AsyncSession, user: User, profile: ExternalProfile, *, ip: str | None) -> None:
    """Make the user's memberships of the groups this provider keeps exactly the groups of the claim, creating
    (or adopting, by name) the Parley groups the claim names."""
    wanted: set[uuid.UUID] = set()
    for name in dict.fromkeys(group.strip()[:100] for group in profile.groups if group.strip()):
        group = await repository.group_by_name(session, name)
        if group is None:
            group, created_now = await repository.add_or_get_group(
                session, Group(id=uuid.uuid4(), name=name, description=f"Kept in step with {profile.provider}")
            )
        else:
            created_now = False
        if created_now:
            record(
                session,
                AuditAction.GROUP_CREATE,
                actor_id=None,
                target_type="group",
                target_id=group.id,
                ip=ip,
                details={"name": name, "provider": profile.provider},
            )
        await repository.link_group(session, kind=profile.kind, provider=profile.provider, group_id=group.id)
        wanted.add(group.id)
    current = await repository.linked_groups_of(session, kind=profile.kind, provider=profile.provider, user_id=user.id)
    added, removed = wanted - current, current - wanted
    await repository.add_memberships(session, user_id=user.id, group_ids=added)
    await repository.remove_memberships(session, user_id=user.id, group_ids=removed)
    if added or removed:
        record(
            session,
            AuditAction.SSO_GROUPS_SYNC,
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
            ip=ip,
            details={
                "provider": profile.provider,
                "added": sorted(str(group_id) for group_id in added),
                "removed": sorted(str(group_id) for group_id in removed),
            },
        )


def record_refusal(
    session: AsyncSession,
    *,
    kind: str,
    provider: str,
    code: str,
    reason: str,
    ip: str | None,
    user_id: uuid.UUID | None = None,
) -> None:
    """The audit row of a single sign-on that failed (call it after rolling back the failed attempt's writes),
    and its count in the metrics (`kind`: oidc or saml)."""
    metrics.sign_in_failed(kind)
    if code == "assertion_replayed":
        metrics.security_event("assertion_replayed")
    record(
        session,
        AuditAction.SSO_LOGIN_FAILED,
        actor_id=user_id,
        target_type="user" if user_id else None,
        target_id=user_id,
        ip=ip,
        details={"kind": kind, "provider": provider, "code": code, "reason": reason[:500]},
    )


# Sign-ins waiting for the provider's answer ----------------------------------------------------------------


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class PendingSignIn:
    nonce: str
    code_verifier: str


async def remember_request(
    session: AsyncSession,
    *,
    kind: str,
    provider: str,
    state: str,
    browser: str,
    nonce: str,
    code_verifier: str,
    ttl_seconds: int,
) -> None:
    """Keep a sign-in sent to a provider until its callback (or `ttl_seconds`), tied to the browser that
    started it by `browser` (a random value in that browser's cookie). Expired ones are swept here."""
    now = utcnow()
    await repository.delete_expired_login_requests(session, now)
    repository.add_login_request(
        session,
        SsoLoginRequest(
            id=uuid.uuid4(),
            state_hash=_digest(state),
            browser_hash=_digest(browser),
            kind=kind,
            provider=provider,
            nonce=nonce,
            code_verifier=code_verifier,
            expires_at=now + timedelta(seconds=ttl_seconds),
        ),
    )


async def take_request(
    session: AsyncSession, *, kind: str, provider: str, state: str, browser: str | None, now: datetime | None = None
) -> PendingSignIn:
    """The waiting sign-in `state` names, used up by this call. Refused when there is none (never sent, already
    used, replayed), when it expired, when it was for another provider, or when another browser started it."""
    request = await repository.take_login_request(session, _digest(state))
    if request is None or request.kind != kind or request.provider != provider:
        raise SignInRefused(
            "state_invalid", "This sign-in link is unknown or was already used. Sign in again.", status=400
        )
    if request.expires_at < (now or utcnow()):
        raise SignInRefused("state_expired", "This sign-in took too long. Sign in again.", status=400)
    if browser is None or _digest(browser) != request.browser_hash:
        raise SignInRefused("state_invalid", "This sign-in was started in another browser. Sign in again.", status=400)
    return PendingSignIn(nonce=request.nonce, code_verifier=request.code_verifier)


async def forget_request(session: AsyncSession, *, state: str) -> None:
    """Drop a waiting sign-in (after rolling back a failed callback, so its state stays used)."""
    await repository.delete_login_request(session, _digest(state))
