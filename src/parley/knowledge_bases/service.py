"""Knowledge bases: named sets of files that their owner shares with users, roles or groups, for retrieval in
chats.

Access levels: the owner may do everything; a `write` grant adds and removes files and renames; a `read` grant
searches and cites (and reads the files). A caller with no access gets 404, as if the knowledge base did not
exist; a caller who can see it but lacks the level an action needs gets 403.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from parley.audit.service import AuditAction, record
from parley.conversations import service as conversation_service
from parley.errors import Forbidden, NotFound, Unprocessable
from parley.groups import service as group_service
from parley.kit.pagination import decode_cursor, encode_cursor
from parley.knowledge_bases import repository
from parley.knowledge_bases.repository import Access
from parley.models import File, KnowledgeBase, KnowledgeBaseGrant
from parley.users import service as user_service

_RANK: dict[Access, int] = {"read": 1, "write": 2, "owner": 3}


@dataclass(frozen=True)
class KnowledgeBaseView:
    """A knowledge base as one caller sees it."""

    knowledge_base: KnowledgeBase
    access: Access
    file_count: int


@dataclass(frozen=True)
class KnowledgeBaseSlice:
    items: list[KnowledgeBaseView]
    next_cursor: str | None


@dataclass(frozen=True)
class MemberFile:
    file: File
    added_at: datetime


@dataclass(frozen=True)
class MemberFileSlice:
    items: list[MemberFile]
    next_cursor: str | None


@dataclass(frozen=True)
class GrantView:
    grant: KnowledgeBaseGrant
    user_email: str | None
    group_name: str | None = None


async def create(session: AsyncSession, *, owner_id: uuid.UUID, name: str, description: str = "") -> KnowledgeBaseView:
    knowledge_base = await repository.add(
        session, KnowledgeBase(id=uuid.uuid4(), owner_id=owner_id, name=name, description=description)
    )
    return KnowledgeBaseView(knowledge_base=knowledge_base, access="owner", file_count=0)


async def get(
    session: AsyncSession, *, user_id: uuid.UUID, role: str, manage: bool = False, knowledge_base_id: uuid.UUID
) -> KnowledgeBaseView:
    """The knowledge base with the caller's access; NotFound when the caller has none. A curator (`manage`: the
    `knowledge_bases:manage` permission) has an owner's access to every knowledge base."""
    found = await repository.get_with_access(
        session, user_id=user_id, role=role, knowledge_base_id=knowledge_base_id, curator=manage
    )
    if found is None:
        raise NotFound("knowledge base not found")
    knowledge_base, access, file_count = found
    return KnowledgeBaseView(knowledge_base=knowledge_base, access=access, file_count=file_count)


async def _require(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    role: str,
    manage: bool = False,
    knowledge_base_id: uuid.UUID,
    level: Access,
) -> KnowledgeBaseView:
    view = await get(session, user_id=user_id, role=role, manage=manage, knowledge_base_id=knowledge_base_id)
    if _RANK[view.access] < _RANK[level]:
        needed = "its owner" if level == "owner" else "its owner or a user granted write access"
        raise Forbidden(f"only {needed} may do this to the knowledge base")
    return view


async def require_readable(
    session: AsyncSession, *, user_id: uuid.UUID, role: str, manage: bool = False, knowledge_base_id: uuid.UUID
) -> KnowledgeBase:
    """The knowledge base if the caller may read it; NotFound otherwise."""
    view = await _require(
        session, user_id=user_id, role=role, manage=manage, knowledge_base_id=knowledge_base_id, level="read"
    )
    return view.knowledge_base


async def require_writable(
    session: AsyncSession, *, user_id: uuid.UUID, role: str, manage: bool = False, knowledge_base_id: uuid.UUID
) -> KnowledgeBase:
    """The knowledge base if the caller may add and remove its files: NotFound when the caller cannot see it,
    Forbidden when they can only read it."""
    view = await _require(
        session, user_id=user_id, role=role, manage=manage, knowledge_base_id=knowledge_base_id, level="write"
    )
    return view.knowledge_base


async def list_for(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    role: str,
    manage: bool = False,
    cursor: str | None = None,
    limit: int = 30,
) -> KnowledgeBaseSlice:
    """Knowledge bases the caller owns or is granted (a curator: every one), newest first."""
    after = decode_cursor(cursor) if cursor else None
    rows = await repository.list_slice(
        session, user_id=user_id, role=role, curator=manage, after=after, limit=limit + 1
    )
    items = [KnowledgeBaseView(knowledge_base=kb, access=access, file_count=count) for kb, access, count in rows]
    page, has_more = items[:limit], len(items) > limit
    last = page[-1].knowledge_base if page else None
    return KnowledgeBaseSlice(
        items=page, next_cursor=encode_cursor(last.created_at, last.id) if has_more and last is not None else None
    )


async def update(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    role: str,
    manage: bool = False,
    knowledge_base_id: uuid.UUID,
    name: str | None = None,
    description: str | None = None,
) -> KnowledgeBaseView:
    view = await _require(
        session, user_id=user_id, role=role, manage=manage, knowledge_base_id=knowledge_base_id, level="write"
    )
    knowledge_base = view.knowledge_base
    if name is not None:
        knowledge_base.name = name
    if description is not None:
        knowledge_base.description = description
    await repository.flush(session, knowledge_base)
    return view


async def delete(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    role: str,
    manage: bool = False,
    knowledge_base_id: uuid.UUID,
    ip: str | None,
) -> None:
    """Delete a knowledge base (owner only). Its files stay with their owners; grants and attachments go."""
    view = await _require(
        session, user_id=user_id, role=role, manage=manage, knowledge_base_id=knowledge_base_id, level="owner"
    )
    await repository.remove(session, knowledge_base_id)
    record(
        session,
        AuditAction.KNOWLEDGE_BASE_DELETE,
        actor_id=user_id,
        target_type="knowledge_base",
        target_id=knowledge_base_id,
        ip=ip,
        details={"name": view.knowledge_base.name, "file_count": view.file_count},
    )


# Files ---------------------------------------------------------------------------------------------------------


async def list_files(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    role: str,
    manage: bool = False,
    knowledge_base_id: uuid.UUID,
    cursor: str | None = None,
    limit: int = 50,
) -> MemberFileSlice:
    await require_readable(session, user_id=user_id, role=role, manage=manage, knowledge_base_id=knowledge_base_id)
    after = decode_cursor(cursor) if cursor else None
    rows = await repository.files_slice(session, knowledge_base_id=knowledge_base_id, after=after, limit=limit + 1)
    items = [MemberFile(file=file, added_at=added_at) for file, added_at in rows]
    page, has_more = items[:limit], len(items) > limit
    last = page[-1] if page else None
    return MemberFileSlice(
        items=page, next_cursor=encode_cursor(last.added_at, last.file.id) if has_more and last is not None else None
    )


async def add_file(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    role: str,
    manage: bool = False,
    knowledge_base_id: uuid.UUID,
    file_id: uuid.UUID,
) -> MemberFile:
    """Put one of the caller's own files into a knowledge base they may write to (adding twice is harmless).
    Everyone who can read the knowledge base can then read and retrieve from the file."""
    await require_writable(session, user_id=user_id, role=role, manage=manage, knowledge_base_id=knowledge_base_id)
    file = await repository.own_file(session, user_id=user_id, file_id=file_id)
    if file is None:
        raise NotFound("file not found")
    added_at = await repository.add_file(session, knowledge_base_id=knowledge_base_id, file_id=file_id)
    return MemberFile(file=file, added_at=added_at)


async def remove_file(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    role: str,
    manage: bool = False,
    knowledge_base_id: uuid.UUID,
    file_id: uuid.UUID,
) -> None:
    """Take a file out of a knowledge base (the file itself stays with its owner)."""
    await require_writable(session, user_id=user_id, role=role, manage=manage, knowledge_base_id=knowledge_base_id)
    if not await repository.remove_file(session, knowledge_base_id=knowledge_base_id, file_id=file_id):
        raise NotFound("file not found in this knowledge base")


# Grants --------------------------------------------------------------------------------------------------------


async def list_grants(
    session: AsyncSession, *, user_id: uuid.UUID, role: str, manage: bool = False, knowledge_base_id: uuid.UUID
) -> list[GrantView]:
    """Who the knowledge base is shared with; only its owner may see (grants name other users)."""
    await _require(
        session, user_id=user_id, role=role, manage=manage, knowledge_base_id=knowledge_base_id, level="owner"
    )
    return [
        GrantView(grant=grant, user_email=email, group_name=group_name)
        for grant, email, group_name in await repository.grants_of(session, knowledge_base_id)
    ]


async def grant(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    role: str,
    manage: bool = False,
    knowledge_base_id: uuid.UUID,
    grantee_id: uuid.UUID | None = None,
    grantee_email: str | None = None,
    grantee_role: str | None = None,
    grantee_group_id: uuid.UUID | None = None,
    permission: str = "read",
    ip: str | None,
) -> GrantView:
    """Share a knowledge base with one user, a role or a group (owner only). Granting again to the same
    grantee changes the permission of the existing grant."""
    await _require(
        session, user_id=user_id, role=role, manage=manage, knowledge_base_id=knowledge_base_id, level="owner"
    )
    grantee_email_found: str | None = None
    group_name: str | None = None
    if grantee_group_id is not None:
        group_name = await group_service.grantee_name(session, grantee_group_id)
        grantee_id = None
    elif grantee_role is None:
        user = None
        if grantee_id is not None:
            user = await user_service.get_by_id_or_none(session, grantee_id)
        elif grantee_email is not None:
            user = await user_service.get_by_email(session, grantee_email)
        if user is None:
            raise Unprocessable("grantee: no such user")
        if user.id == user_id:
            raise Unprocessable("grantee: you own this knowledge base already")
        grantee_id, grantee_email_found = user.id, user.email
    else:
        grantee_id = None
    created = await repository.upsert_grant(
        session,
        knowledge_base_id=knowledge_base_id,
        user_id=grantee_id,
        role=grantee_role,
        group_id=grantee_group_id,
        permission=permission,
    )
    record(
        session,
        AuditAction.KNOWLEDGE_BASE_GRANT_CREATE,
        actor_id=user_id,
        target_type="knowledge_base",
        target_id=knowledge_base_id,
        ip=ip,
        details={
            "grant_id": str(created.id),
            "user_id": str(grantee_id) if grantee_id else None,
            "role": grantee_role,
            "group_id": str(grantee_group_id) if grantee_group_id else None,
            "permission": permission,
        },
    )
    return GrantView(grant=created, user_email=grantee_email_found, group_name=group_name)


async def revoke(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    role: str,
    manage: bool = False,
    knowledge_base_id: uuid.UUID,
    grant_id: uuid.UUID,
    ip: str | None,
) -> None:
    """Withdraw a grant (owner only); the grantee loses access with the next request."""
    await _require(
        session, user_id=user_id, role=role, manage=manage, knowledge_base_id=knowledge_base_id, level="owner"
    )
    if not await repository.remove_grant(session, knowledge_base_id=knowledge_base_id, grant_id=grant_id):
        raise NotFound("grant not found")
    record(
        session,
        AuditAction.KNOWLEDGE_BASE_GRANT_DELETE,
        actor_id=user_id,
        target_type="knowledge_base",
        target_id=knowledge_base_id,
        ip=ip,
        details={"grant_id": str(grant_id)},
    )


# Conversations -------------------------------------------------------------------------------------------------


async def attached_to(
    session: AsyncSession, *, user_id: uuid.UUID, role: str, conversation_id: uuid.UUID
) -> list[KnowledgeBaseView]:
    """The knowledge bases a conversation of the caller searches (those the caller can still read)."""
    await conversation_service.get(session, user_id=user_id, conversation_id=conversation_id)
    rows = await repository.attached_to(session, user_id=user_id, role=role, conversation_id=conversation_id)
    return [KnowledgeBaseView(knowledge_base=kb, access=access, file_count=count) for kb, access, count in rows]


async def attach(
    session: AsyncSession, *, user_id: uuid.UUID, role: str, conversation_id: uuid.UUID, knowledge_base_id: uuid.UUID
) -> KnowledgeBaseView:
    """Make every later message of the caller's conversation search this knowledge base."""
    await conversation_service.get(session, user_id=user_id, conversation_id=conversation_id)
    view = await get(session, user_id=user_id, role=role, knowledge_base_id=knowledge_base_id)
    await repository.attach(session, conversation_id=conversation_id, knowledge_base_id=knowledge_base_id)
    return view


async def detach(
    session: AsyncSession, *, user_id: uuid.UUID, conversation_id: uuid.UUID, knowledge_base_id: uuid.UUID
) -> None:
    # Detaching needs no access to the knowledge base: a user who lost it must still be able to tidy up.
    await conversation_service.get(session, user_id=user_id, conversation_id=conversation_id)
    if not await repository.detach(session, conversation_id=conversation_id, knowledge_base_id=knowledge_base_id):
        raise NotFound("knowledge base not attached to this conversation")
