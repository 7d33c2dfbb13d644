"""The audit trail: who did what to what, from where. Written in the caller's unit of work, so an action and
its audit row commit (or roll back) together."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parley.audit import chain, repository
from parley.models import AuditEvent


class AuditAction(StrEnum):
    LOGIN = "auth.login"
    LOGIN_FAILED = "auth.login_failed"
    LOGOUT = "auth.logout"
    REFRESH_REUSE = "auth.refresh_token_reuse"
    REGISTER = "auth.register"
    SSO_LOGIN_FAILED = "auth.sso_login_failed"
    SSO_USER_CREATE = "auth.sso_user_create"
    SSO_LINK = "auth.sso_link"
    SSO_ROLE_CHANGE = "auth.sso_role_change"
    SSO_GROUPS_SYNC = "auth.sso_groups_sync"
    PASSWORD_CHANGE = "user.password_change"  # noqa: S105 (an action name)
    API_KEY_CREATE = "api_key.create"
    API_KEY_REVOKE = "api_key.revoke"
    ADMIN_USER_SUSPEND = "admin.user_suspend"
    ADMIN_USER_UNSUSPEND = "admin.user_unsuspend"
    ADMIN_USER_UPDATE = "admin.user_update"
    ADMIN_USER_CREATE = "admin.user_create"
    KNOWLEDGE_BASE_DELETE = "knowledge_base.delete"
    KNOWLEDGE_BASE_GRANT_CREATE = "knowledge_base.grant_create"
    KNOWLEDGE_BASE_GRANT_DELETE = "knowledge_base.grant_delete"
    GROUP_CREATE = "group.create"
    GROUP_UPDATE = "group.update"
    GROUP_DELETE = "group.delete"
    GROUP_MEMBER_ADD = "group.member_add"
    GROUP_MEMBER_REMOVE = "group.member_remove"
    PLAN_PUT = "plan.put"
    PLAN_DELETE = "plan.delete"
    # The model catalogue managed at run time (issue 15): an admin's model added, edited (or disabled), or its
    # entry deleted (a model of the models file returns to the file's entry).
    MODEL_CREATE = "model.create"
    MODEL_UPDATE = "model.update"
    MODEL_DELETE = "model.delete"
    USER_LIMITS_PUT = "admin.user_limits_put"
    USER_LIMITS_DELETE = "admin.user_limits_delete"
    GROUP_LIMITS_PUT = "group.limits_put"
    GROUP_LIMITS_DELETE = "group.limits_delete"
    QUOTA_WARNING = "quota.warning"
    QUOTA_EXCEEDED = "quota.exceeded"
    # SCIM provisioning (issue 12): what the identity provider's SCIM client changed (actor_id null,
    # details.actor "scim"), and the admins' token rotation.
    SCIM_USER_CREATE = "scim.user_create"
    SCIM_USER_UPDATE = "scim.user_update"
    SCIM_USER_DELETE = "scim.user_delete"
    SCIM_GROUP_CREATE = "scim.group_create"
    SCIM_GROUP_UPDATE = "scim.group_update"
    SCIM_GROUP_DELETE = "scim.group_delete"
    SCIM_TOKEN_ROTATE = "scim.token_rotate"  # noqa: S105 (an action name)
    # A body the SCIM client sent that was refused before anything changed (unknown attribute, malformed PATCH…).
    SCIM_REQUEST_REFUSED = "scim.request_refused"
    # Custom roles (issue 12); a group's role changes as `group.update`, a user's as `admin.user_update`.
    ROLE_CREATE = "role.create"
    ROLE_UPDATE = "role.update"
    ROLE_DELETE = "role.delete"
    # An answer whose replica died (or let it go while draining) continued by another one (chat.handover).
    ANSWER_HANDED_OVER = "chat.answer_handed_over"
    # Retrieval provenance: the document chunks (and their files) one answer showed its user (target: the answer).
    RETRIEVAL_PROVENANCE = "chat.retrieval_provenance"
    # Someone other than its owner read a file (a knowledge-base grantee: its details, download, or attaching it).
    FILE_ACCESS_BY_OTHER = "file.access_by_other"
    # An administrator read per-user data of others (analytics grouped by user).
    ADMIN_USER_DATA_READ = "admin.user_data_read"
    # The audit trail itself exported (for a SIEM), with its filters.
    AUDIT_EXPORT = "audit.export"
    # GDPR (issue 14): a data export asked for, an account erased (target: its pseudonymous tombstone), a legal
    # hold set or lifted, and one retention run's deletes for one user (with counts).
    USER_EXPORT = "user.export"
    USER_ERASE = "user.erase"
    USER_LEGAL_HOLD = "user.legal_hold"
    RETENTION_DELETE = "retention.delete"
    # Reports of answers (issue 16): a user reported one of their answers; a reviewer read a report (its exchange
    # is the reporter's data), dismissed or confirmed it, suspended the reporting user (the one whose conversation
    # it was), added a block-list phrase from it, or wrote a note.
    REPORT_CREATE = "report.create"
    REPORT_READ = "report.read"
    REPORT_DISMISS = "report.dismiss"
    REPORT_CONFIRM = "report.confirm"
    REPORT_SUSPEND_USER = "report.suspend_user"
    REPORT_BLOCK_PHRASE = "report.block_phrase"
    REPORT_NOTE = "report.note"
    # A user's message the prompt-injection detector flagged (README, "Prompt injection"): score, reasons, the
    # plan's policy and what was done (answered or refused), never the text.
    SAFETY_FLAGGED = "safety.flagged"


def record(
    session: AsyncSession,
    action: AuditAction,
    *,
    actor_id: uuid.UUID | None,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    return repository.add(
        session,
        action=action.value,
        actor_id=actor_id,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        ip=ip,
        details=details or {},
    )


async def list_events(
    session: AsyncSession,
    *,
    action: str | None = None,
    actor_id: uuid.UUID | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[AuditEvent], int]:
    return await repository.list_page(
        session,
        action=action,
        actor_id=actor_id,
        target_id=target_id,
        since=since,
        until=until,
        offset=(page - 1) * page_size,
        limit=page_size,
    )


def stream_events(
    session: AsyncSession,
    *,
    actions: Sequence[str] = (),
    target_type: str | None = None,
    actor_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AsyncIterator[AuditEvent]:
    """Every matching event, oldest first, streamed (the SIEM export): memory stays flat however many match."""
    return repository.stream_oldest_first(
        session, actions=actions, target_type=target_type, actor_id=actor_id, since=since, until=until
    )


async def verify_chain(session: AsyncSession, *, trusted_public_keys: Iterable[str]) -> chain.Verdict:
    """Walk the hash chain and its signed checkpoints (`parley.audit.chain.verify`)."""
    return await chain.verify(session, trusted_public_keys=trusted_public_keys)


def record_export(session: AsyncSession, *, actor_id: uuid.UUID, filters: dict[str, Any]) -> None:
    """The trail exported (a SIEM pull, an auditor's download): by whom, with which filters."""
    record(
        session,
        AuditAction.AUDIT_EXPORT,
        actor_id=actor_id,
        target_type="audit",
        details={name: _plain(value) for name, value in filters.items() if value},
    )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
