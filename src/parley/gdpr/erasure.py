"""Account erasure (GDPR Art. 17): a user deletes their account, or an administrator deletes it for them.

In one unit of work: conversations and messages, files (their bytes by jobs committed with the deletion), chunks,
knowledge bases the user owns, API keys, sessions, memberships, quota counters, export zips and the account row
are deleted, and the user's data key is destroyed (crypto-erase: copies of their rows in backups and replicas
can no longer be read). Usage records are kept for billing under a tombstone account: a row named by a keyed hash
of the account id, with no email, name or password, keeping only the plan and cost centre the spend is charged
to. The audit trail records the erasure under the same keyed hash. Answers being written for the user stop.
The user's Batch API files and batches go too (the files' bytes by jobs as well).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from parley import jobs
from parley.audit.service import AuditAction, record
from parley.auth import sessions as auth_sessions
from parley.auth.passwords import Passwords
from parley.auth.permissions import Role
from parley.auth.principal import Principal
from parley.batches import service as batches_service
from parley.conversations import service as conversation_service
from parley.db import after_commit
from parley.errors import Conflict, Forbidden, NotFound, Unprocessable
from parley.files import service as files_service
from parley.gdpr import exports, repository
from parley.gdpr.tombstones import Tombstones
from parley.kit.clock import utcnow
from parley.models import User
from parley.users import repository as users_repository
from parley.users.service import AnswerStopper


class ReauthenticationRequired(Forbidden):
    code = "reauthentication_required"


class KeyEraser(Protocol):
    """What destroys a user's data key (`parley.crypto.Crypto`)."""

    async def erase(self, session: AsyncSession, owner_id: uuid.UUID) -> int: ...


@dataclass(frozen=True)
class Erasure:
    """What an erasure removed and kept: counts, and the tombstone the usage records now belong to."""

    subject: str
    tombstone_id: uuid.UUID
    conversations: int
    files: int
    usage_records_kept: int
    data_keys_destroyed: int


async def confirm_identity(
    session: AsyncSession,
    passwords: Passwords,
    principal: Principal,
    *,
    password: str | None,
    reauthentication_minutes: int,
) -> None:
    """Make sure the person deleting the account is its owner, now: the current password, or for an account
    without one (single sign-on only) a sign-in within the last `reauthentication_minutes`. API keys never may."""
    if not principal.is_interactive or principal.session_id is None:
        raise Forbidden("deleting your account needs a signed-in session; API keys cannot do it")
    user = principal.user
    if user.hashed_password is not None:
        if not password or not await passwords.verify(user.hashed_password, password):
            raise Unprocessable("password: the password is not correct")
        return
    started = await auth_sessions.signed_in_at(session, user_id=user.id, family_id=principal.session_id)
    if started is None or utcnow() - started > timedelta(minutes=reauthentication_minutes):
        raise ReauthenticationRequired(
            f"sign in again (within the last {reauthentication_minutes} minutes) to delete your account",
            max_age_minutes=reauthentication_minutes,
        )


async def erase(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    admin: User | None,
    tombstones: Tombstones,
    ip: str | None,
    answers: Sequence[AnswerStopper] = (),
    keys: KeyEraser,
) -> Erasure:
    """Erase an account (see the module). `admin` is the administrator doing it, None when the user deletes their
    own. Refused (409) for the last active admin and for an account under legal hold."""
    user = await repository.lock_user(session, user_id)
    if user is None or user.erased_at is not None:
        raise NotFound("user not found")
    if user.legal_hold_at is not None:
        raise Conflict("this account is under legal hold and cannot be deleted until the hold is lifted")
    if user.role == Role.ADMIN and user.is_active and await users_repository.count_active_admins(session) <= 1:
        raise Conflict("the last active admin cannot be deleted")
    await auth_sessions.revoke_user_sessions(session, user.id)
    conversations = await conversation_service.delete_all_of(session, user_id=user.id)
    files = await files_service.delete_all_of(session, user_id=user.id)
    # Batch API files' bytes (their rows, and the batches, go with the account row).
    await batches_service.delete_all_of(session, user_id=user.id)
    for export_id in await repository.export_ids_of(session, user.id):
        key = exports.storage_key(user.id, export_id)
        await jobs.enqueue(session, exports.DELETE_ZIP_JOB, {"storage_key": key})
    tombstone = await _tombstone(session, user, tombstones)
    kept = await repository.reassign_usage(session, from_user=user.id, to_user=tombstone.id)
    await repository.delete_quota_rows(session, user.id)
    destroyed = await keys.erase(session, user.id)
    await repository.delete_user(session, user.id)
    subject = tombstones.subject(user.id)
    erasure = Erasure(subject, tombstone.id, conversations, files, kept, destroyed)
    record(
        session,
        AuditAction.USER_ERASE,
        # A self-erasure names no actor: the account row it would point at is gone.
        actor_id=admin.id if admin is not None else None,
        target_type="erased_user",
        target_id=subject,
        ip=ip,
        details={
            "by": "admin" if admin is not None else "self",
            "tombstone_id": str(tombstone.id),
            "conversations": conversations,
            "files": files,
            "usage_records_kept": kept,
            "data_keys_destroyed": destroyed,
        },
    )
    for stopper in answers:
        after_commit(session, functools.partial(stopper.stop_answers_of, user.id), on_rollback=lambda: None)
    return erasure


async def _tombstone(session: AsyncSession, user: User, tombstones: Tombstones) -> User:
    """The erased account's tombstone row: no personal data, only what its kept usage is billed by."""
    now = utcnow()
    return await repository.add_user(
        session,
        User(
            id=tombstones.user_id(user.id),
            email=tombstones.email(user.id),
            hashed_password=None,
            full_name=None,
            role=Role.USER.value,
            subscription_tier=user.subscription_tier,
            cost_centre=user.cost_centre,
            is_active=False,
            home_region=user.home_region,
            deprovisioned_at=now,
            erased_at=now,
        ),
    )
