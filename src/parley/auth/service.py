"""Authentication: registration, sign-in, token rotation, sign-out, and turning a bearer credential into a
`Principal`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from parley.api_keys import service as api_key_service
from parley.audit.service import AuditAction, record
from parley.auth import sessions
from parley.auth.permissions import resolve
from parley.auth.principal import Principal
from parley.auth.security import Security
from parley.auth.tokens import API_KEY_PREFIX, InvalidToken
from parley.config import AuthSettings
from parley.errors import Forbidden, TooManyRequests, Unauthorized
from parley.kit.clock import utcnow
from parley.metrics import instruments as metrics
from parley.models import User
from parley.models.region import region_url, session_region
from parley.users import service as user_service

_BAD_CREDENTIALS = "Invalid email or password"
_SUSPENDED = "This account is suspended. Contact your administrator."
_PASSWORD_LOGIN_OFF = "Password sign-in is turned off; sign in with your organisation's account"  # noqa: S105


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105


async def register(
    session: AsyncSession,
    security: Security,
    *,
    email: str,
    password: str,
    full_name: str | None,
    ip: str | None,
) -> User:
    if not security.settings.password_login_enabled:
        raise Forbidden(_PASSWORD_LOGIN_OFF)
    if not security.settings.registration_enabled:
        raise Forbidden("Self-registration is turned off; ask your administrator for an account")
    user = await user_service.create_user(
        session,
        security.passwords,
        email=email,
        password=password,
        full_name=full_name,
        password_min_length=security.settings.password_min_length,
    )
    record(session, AuditAction.REGISTER, actor_id=user.id, target_type="user", target_id=user.id, ip=ip)
    return user


async def login(
    session: AsyncSession,
    security: Security,
    *,
    email: str,
    password: str,
    ip: str | None,
    user_agent: str | None,
    device: str | None = None,
) -> TokenPair:
    """Check a password and start a session. Unknown email and wrong password answer alike, after the same
    work. Repeated failures are throttled (`auth.throttle`): slowed down per account, refused per account and
    address and per address, never for an address or browser (`device`) that signed in to the account lately."""
    email = user_service.normalise_email(email)
    if not password_login_allowed(security.settings, email):
        record(
            session,
            AuditAction.LOGIN_FAILED,
            actor_id=None,
            ip=ip,
            details={"email": email, "reason": "password_login_disabled"},
        )
        metrics.sign_in_failed("password")
        raise Forbidden(_PASSWORD_LOGIN_OFF, persist_changes=True)
    throttle = security.login_throttle
    retry_after = await throttle.retry_after(email=email, ip=ip, device=device)
    if retry_after is not None:
        metrics.security_event("account_locked")
        raise TooManyRequests("Too many failed sign-in attempts; try again later", retry_after_seconds=retry_after)
    user = await user_service.get_by_email(session, email)
    if not await security.passwords.verify(user.hashed_password if user else None, password) or user is None:
        await throttle.record_failure(email=email, ip=ip, device=device)
        record(
            session,
            AuditAction.LOGIN_FAILED,
            actor_id=user.id if user else None,
            target_type="user",
            target_id=user.id if user else None,
            ip=ip,
            details={"email": email},
        )
        metrics.sign_in_failed("password")
        raise Unauthorized(_BAD_CREDENTIALS, persist_changes=True)
    if not user.is_active:
        raise Forbidden(_SUSPENDED)
    await throttle.record_success(email=email, ip=ip, device=device)
    if user.hashed_password and security.passwords.needs_rehash(user.hashed_password):
        user.hashed_password = await security.passwords.hash(password)
    return start_session(session, security, user, ip=ip, user_agent=user_agent)


def start_session(
    session: AsyncSession,
    security: Security,
    user: User,
    *,
    ip: str | None,
    user_agent: str | None,
    via: dict[str, str] | None = None,
) -> TokenPair:
    """Start a session for a user whose identity was proven (a password, or a single sign-on: `via` names the
    provider for the audit trail): the same tokens, rotation and revocation whichever way they signed in. A user
    whose home region is another region's is sent there (`WrongRegion`)."""
    _ensure_home_region(session, user)
    user.last_login_at = utcnow()
    issued = sessions.issue(
        session,
        user_id=user.id,
        ttl_days=security.settings.refresh_token_ttl_days,
        ip=ip,
        user_agent=user_agent,
    )
    record(
        session,
        AuditAction.LOGIN,
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        ip=ip,
        details={"session_id": str(issued.family_id), **(via or {})},
    )
    return _pair(security, user, issued)


def password_login_allowed(settings: AuthSettings, email: str) -> bool:
    """Whether this email may sign in with a password: everyone, unless password sign-in is off (single sign-on
    only); then only the break-glass admin."""
    return settings.password_login_enabled or (
        settings.break_glass_email is not None and user_service.normalise_email(email) == settings.break_glass_email
    )


async def refresh(
    session: AsyncSession,
    security: Security,
    *,
    refresh_token: str,
    ip: str | None,
    user_agent: str | None,
) -> TokenPair:
    """Trade a refresh token for a new pair. The presented token dies: presenting it again within the grace
    window (tabs racing for one refresh) gets the same new pair; after it, revokes the whole session (every
    newer token too)."""
    rotation = await sessions.rotate(
        session,
        refresh_token,
        successor_key=security.refresh_successor_key,
        grace_seconds=security.settings.refresh_reuse_grace_seconds,
    )
    if rotation.reused is not None:
        record(
            session,
            AuditAction.REFRESH_REUSE,
            actor_id=rotation.reused.user_id,
            target_type="session",
            target_id=rotation.reused.family_id,
            ip=ip,
        )
        metrics.security_event("refresh_token_reuse")
        raise Unauthorized("This refresh token was already used; the session has been revoked", persist_changes=True)
    if rotation.repeated is not None:
        user = await user_service.get(session, rotation.repeated.user_id)
        _ensure_active(user)
        return _pair(security, user, rotation.repeated)
    current = rotation.current
    if current is None:
        raise Unauthorized("Invalid or expired refresh token")
    user = await user_service.get(session, current.user_id)
    if not user.is_active:
        await sessions.revoke_family(session, current.family_id)
        raise Forbidden(_SUSPENDED, persist_changes=True)
    _ensure_home_region(session, user)
    issued = sessions.issue(
        session,
        user_id=user.id,
        ttl_days=security.settings.refresh_token_ttl_days,
        family_id=current.family_id,
        parent_id=current.id,
        ip=ip,
        user_agent=user_agent,
        token=rotation.successor,
    )
    return _pair(security, user, issued)


async def logout(session: AsyncSession, *, refresh_token: str, ip: str | None) -> None:
    """End the session the refresh token belongs to. Unknown tokens are ignored (logging out is idempotent)."""
    revoked = await sessions.revoke_by_token(session, refresh_token)
    if revoked is not None:
        record(
            session,
            AuditAction.LOGOUT,
            actor_id=revoked.user_id,
            target_type="session",
            target_id=revoked.family_id,
            ip=ip,
        )


async def authenticate(session: AsyncSession, security: Security, credential: str) -> Principal:
    """The caller behind an access token or API key. Suspended users and ended sessions are refused on every
    call at once, on every replica."""
    if credential.startswith(API_KEY_PREFIX):
        resolved = await api_key_service.resolve(session, credential)
        if resolved is None:
            metrics.sign_in_failed("api_key")
            raise Unauthorized("Invalid, expired or revoked API key")
        api_key, user, owner_permissions = resolved
        _ensure_active(user)
        return Principal(
            user=user,
            permissions=api_key_service.effective_scopes(api_key, owner_permissions),
            api_key_id=api_key.id,
        )
    try:
        claims = security.access_tokens.verify(credential)
    except InvalidToken as exc:
        raise Unauthorized("Invalid or expired access token") from exc
    found = await sessions.user_in_session(session, user_id=claims.user_id, session_id=claims.session_id)
    if found is None:
        raise Unauthorized("Invalid or expired access token")
    user, session_open, custom = found
    _ensure_active(user)
    if not session_open:
        # Signed out, signed out by a password change, or revoked after a refresh token was replayed: the
        # session's access tokens die with it, not up to their expiry later.
        raise Unauthorized("This session has ended; sign in again")
    # Permissions follow the stored roles (the user's and their groups'), so a demotion or a permission taken from
    # a role takes effect on the next request, before the token expires.
    return Principal(user=user, permissions=resolve(user.role, custom), session_id=claims.session_id)


class WrongRegion(Forbidden):
    """The account's home region is another deployment's: its data lives there, so it signs in there."""

    code = "wrong_region"


def _ensure_home_region(session: AsyncSession, user: User) -> None:
    here = session_region(session.sync_session)
    if here is None or user.home_region is None or user.home_region == here:
        return
    url = region_url(session.sync_session, user.home_region)
    where = f" at {url}" if url else ""
    raise WrongRegion(
        f"This account belongs to the {user.home_region} region; sign in there{where}",
        home_region=user.home_region,
        home_region_url=url,
    )


def _ensure_active(user: User) -> None:
    if not user.is_active:
        raise Forbidden(_SUSPENDED)


def _pair(security: Security, user: User, issued: sessions.IssuedRefreshToken) -> TokenPair:
    return TokenPair(
        access_token=security.access_tokens.issue(
            user_id=user.id,
            role=user.role,
            session_id=issued.family_id,
            token_id=issued.token_id.hex,
            issued_at=issued.issued_at,
        ),
        refresh_token=issued.token,
        expires_in=security.access_tokens.ttl_seconds,
    )
