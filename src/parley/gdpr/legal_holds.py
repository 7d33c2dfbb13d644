"""Legal holds: an administrator suspends deletion of a user's data (retention and erasure) while litigation or an
investigation needs it kept."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from parley.audit.service import AuditAction, record
from parley.errors import NotFound
from parley.gdpr import repository
from parley.kit.clock import utcnow
from parley.models import User


async def set_legal_hold(
    session: AsyncSession, *, admin: User, user_id: uuid.UUID, hold: bool, reason: str | None, ip: str | None
) -> User:
    """Set or lift a user's legal hold (setting it again updates the reason and keeps when it started). Audited."""
    user = await repository.lock_user(session, user_id)
    if user is None or user.erased_at is not None:
        raise NotFound("user not found")
    was_held = user.legal_hold_at is not None
    if hold:
        user.legal_hold_at = user.legal_hold_at or utcnow()
        user.legal_hold_reason = reason.strip() if reason and reason.strip() else None
    else:
        user.legal_hold_at = None
        user.legal_hold_reason = None
    record(
        session,
        AuditAction.USER_LEGAL_HOLD,
        actor_id=admin.id,
        target_type="user",
        target_id=user.id,
        ip=ip,
        details={"hold": hold, "was_held": was_held, "reason": user.legal_hold_reason},
    )
    await session.flush()
    await session.refresh(user)
    return user
