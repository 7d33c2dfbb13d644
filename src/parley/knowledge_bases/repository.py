"""Every SQL statement of the knowledge-bases domain, and the access rules other domains reuse.

Access is decided in SQL on every call (never cached): a knowledge base is readable by its owner and by every
user granted it by user id, by role or through one of their groups; writable by its owner and by `write`
grants. Revoking a grant, changing a user's role or their groups therefore takes effect on the next statement.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from parley.groups.repository import group_ids_of
from parley.models import (
    ConversationKnowledgeBase,
    File,
    Group,
    KnowledgeBase,
    KnowledgeBaseFile,
    KnowledgeBaseGrant,
    User,
)

Access = Literal["owner", "write", "read"]


def _role_of(user_id: uuid.UUID, role: str | None) -> ColumnElement[str]:
    """The caller's role: as given, or (for callers that only know the user id) the stored one."""
    if role is not None:
        return literal(role)
    return select(User.role).where(User.id == user_id).scalar_subquery()


def _grant_matches(user_id: uuid.UUID, role: str | None) -> ColumnElement[bool]:
    return or_(
        KnowledgeBaseGrant.user_id == user_id,
        KnowledgeBaseGrant.role == _role_of(user_id, role),
        KnowledgeBaseGrant.group_id.in_(group_ids_of(user_id)),
    )


def readable_knowledge_base_ids(user_id: uuid.UUID, role: str | None = None) -> Select[uuid.UUID]:
    """Ids of the knowledge bases `user_id` may read: owned, or granted to the user, their role or one of
    their groups."""
    owned = select(KnowledgeBase.id).where(KnowledgeBase.owner_id == user_id)
    granted = select(KnowledgeBaseGrant.knowledge_base_id).where(_grant_matches(user_id, role))
    return select(owned.union(granted).subquery().c[0])


def shared_file_ids(user_id: uuid.UUID, role: str | None = None) -> Select[uuid.UUID]:
    """Ids of the files in knowledge bases `user_id` may read (whoever owns the files)."""
    return select(KnowledgeBaseFile.file_id).where(
        KnowledgeBaseFile.knowledge_base_id.in_(readable_knowledge_base_ids(user_id, role))
    )


def file_readable_through_knowledge_base(
    file_id: ColumnElement[uuid.UUID] | QueryableAttribute[uuid.UUID], *, user_id: uuid.UUID, role: str | None = None
) -> ColumnElement[bool]:
    """True when the file is in a knowledge base `user_id` can read: for the files domain's `readable_by`,
    which ORs it with its own-file rule. `role=None` reads the user's role from the users table."""
    return file_id.in_(shared_file_ids(user_id, role))


def _access_level(user_id: uuid.UUID, role: str, curator: bool = False) -> ColumnElement[str | None]:
    """'owner', 'write', 'read' or NULL (no access), per knowledge-base row; a write grant (by user, role or
    group) outranks a read grant. A curator (`knowledge_bases:manage`) has an owner's access to every one."""
    if curator:
        return literal("owner")
    best_grant = (
        select(func.max(KnowledgeBaseGrant.permission))  # 'write' > 'read'
        .where(KnowledgeBaseGrant.knowledge_base_id == KnowledgeBase.id, _grant_matches(user_id, role))
        .correlate(KnowledgeBase)
        .scalar_subquery()
    )
    return case((KnowledgeBase.owner_id == user_id, literal("owner")), else_=best_grant)


def _file_count() -> ColumnElement[int]:
    return (
        select(func.count())
        .select_from(KnowledgeBaseFile)
        .where(KnowledgeBaseFile.knowledge_base_id == KnowledgeBase.id)
        .correlate(KnowledgeBase)
        .scalar_subquery()
    )


def _with_access(user_id: uuid.UUID, role: str, curator: bool = False) -> Select[KnowledgeBase, str | None, int]:
    access = _access_level(user_id, role, curator).label("access")
    query = select(KnowledgeBase, access, _file_count().label("file_count"))
    return query if curator else query.where(KnowledgeBase.id.in_(readable_knowledge_base_ids(user_id, role)))


async def add(session: AsyncSession, knowledge_base: KnowledgeBase) -> KnowledgeBase:
    session.add(knowledge_base)
    await session.flush()
    await session.refresh(knowledge_base)
    return knowledge_base


async def get_with_access(
    session: AsyncSession, *, user_id: uuid.UUID, role: str, knowledge_base_id: uuid.UUID, curator: bool = False
) -> tuple[KnowledgeBase, Access, int] | None:
    """The knowledge base with the caller's access level and its file count; None when the caller has none."""
    row = (
        await session.execute(_with_access(user_id, role, curator).where(KnowledgeBase.id == knowledge_base_id))
    ).one_or_none()
    if row is None or row.access is None:
        return None
    return row[0], row.access, row.file_count


async def list_slice(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    role: str,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    curator: bool = False,
) -> list[tuple[KnowledgeBase, Access, int]]:
    """Readable knowledge bases (a curator's: all), newest first, `limit` rows after the keyset position `after`."""
    query = _with_access(user_id, role, curator)
    if after is not None:
        moment, row_id = after
        query = query.where(
            or_(
                KnowledgeBase.created_at < moment,
                and_(KnowledgeBase.created_at == moment, KnowledgeBase.id < row_id),
            )
        )
    rows = await session.execute(query.order_by(KnowledgeBase.created_at.desc(), KnowledgeBase.id.desc()).limit(limit))
    return [(row[0], row.access, row.file_count) for row in rows]


async def flush(session: AsyncSession, knowledge_base: KnowledgeBase) -> KnowledgeBase:
    await session.flush()
    await session.refresh(knowledge_base)
    return knowledge_base


async def remove(session: AsyncSession, knowledge_base_id: uuid.UUID) -> None:
    await session.execute(delete(KnowledgeBase).where(KnowledgeBase.id == knowledge_base_id))


# Files of a knowledge base -------------------------------------------------------------------------------------


async def own_file(session: AsyncSession, *, user_id: uuid.UUID, file_id: uuid.UUID) -> File | None:
    return await session.scalar(select(File).where(File.id == file_id, File.user_id == user_id))


async def add_file(session: AsyncSession, *, knowledge_base_id: uuid.UUID, file_id: uuid.UUID) -> datetime:
    """Add the file (once); returns when it was added."""
    added_at: datetime | None = await session.scalar(
        insert(KnowledgeBaseFile)
        .values(knowledge_base_id=knowledge_base_id, file_id=file_id)
        .on_conflict_do_nothing(index_elements=["knowledge_base_id", "file_id"])
        .returning(KnowledgeBaseFile.added_at)
    )
    if added_at is None:  # already a member
        added_at = await session.scalar(
            select(KnowledgeBaseFile.added_at).where(
                KnowledgeBaseFile.knowledge_base_id == knowledge_base_id, KnowledgeBaseFile.file_id == file_id
            )
        )
        assert added_at is not None
        return added_at
    # The contents of a knowledge base changed: so did the knowledge base.
    await session.execute(
        update(KnowledgeBase).where(KnowledgeBase.id == knowledge_base_id).values(updated_at=func.now())
    )
    return added_at


async def remove_file(session: AsyncSession, *, knowledge_base_id: uuid.UUID, file_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(KnowledgeBaseFile)
        .where(KnowledgeBaseFile.knowledge_base_id == knowledge_base_id, KnowledgeBaseFile.file_id == file_id)
        .returning(KnowledgeBaseFile.file_id)
    )
    return result.one_or_none() is not None


async def files_slice(
    session: AsyncSession,
    *,
    knowledge_base_id: uuid.UUID,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[tuple[File, datetime]]:
    """The files of a knowledge base with when each was added, most recently added first."""
    query = (
        select(File, KnowledgeBaseFile.added_at)
        .join(KnowledgeBaseFile, KnowledgeBaseFile.file_id == File.id)
        .where(KnowledgeBaseFile.knowledge_base_id == knowledge_base_id)
    )
    if after is not None:
        moment, row_id = after
        query = query.where(
            or_(
                KnowledgeBaseFile.added_at < moment,
                and_(KnowledgeBaseFile.added_at == moment, File.id < row_id),
            )
        )
    rows = await session.execute(query.order_by(KnowledgeBaseFile.added_at.desc(), File.id.desc()).limit(limit))
    return [(row[0], row[1]) for row in rows]


# Grants --------------------------------------------------------------------------------------------------------


async def grants_of(
    session: AsyncSession, knowledge_base_id: uuid.UUID
) -> list[tuple[KnowledgeBaseGrant, str | None, str | None]]:
    """The grants of a knowledge base with the grantee user's email and the grantee group's name (each None
    when the grant is not to a user / a group), oldest first."""
    rows = await session.execute(
        select(KnowledgeBaseGrant, User.email, Group.name)
        .outerjoin(User, User.id == KnowledgeBaseGrant.user_id)
        .outerjoin(Group, Group.id == KnowledgeBaseGrant.group_id)
        .where(KnowledgeBaseGrant.knowledge_base_id == knowledge_base_id)
        .order_by(KnowledgeBaseGrant.created_at, KnowledgeBaseGrant.id)
    )
    return [(row[0], row[1], row[2]) for row in rows]


async def upsert_grant(
    session: AsyncSession,
    *,
    knowledge_base_id: uuid.UUID,
    user_id: uuid.UUID | None,
    role: str | None,
    group_id: uuid.UUID | None,
    permission: str,
) -> KnowledgeBaseGrant:
    """Grant, or change the permission of the grant the grantee already holds (one grant per grantee)."""
    if user_id is not None:
        grantee_column, where = "user_id", KnowledgeBaseGrant.user_id.is_not(None)
    elif group_id is not None:
        grantee_column, where = "group_id", KnowledgeBaseGrant.group_id.is_not(None)
    else:
        grantee_column, where = "role", KnowledgeBaseGrant.role.is_not(None)
    statement = (
        insert(KnowledgeBaseGrant)
        .values(
            id=uuid.uuid4(),
            knowledge_base_id=knowledge_base_id,
            user_id=user_id,
            role=role,
            group_id=group_id,
            permission=permission,
        )
        .on_conflict_do_update(
            index_elements=["knowledge_base_id", grantee_column],
            index_where=where,
            set_={"permission": permission},
        )
        .returning(KnowledgeBaseGrant)
    )
    grant: KnowledgeBaseGrant | None = await session.scalar(
        select(KnowledgeBaseGrant).from_statement(statement).execution_options(populate_existing=True)
    )
    assert grant is not None  # an upsert with RETURNING always yields its row
    return grant


async def remove_grant(session: AsyncSession, *, knowledge_base_id: uuid.UUID, grant_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(KnowledgeBaseGrant)
        .where(KnowledgeBaseGrant.id == grant_id, KnowledgeBaseGrant.knowledge_base_id == knowledge_base_id)
        .returning(KnowledgeBaseGrant.id)
    )
    return result.one_or_none() is not None


# Conversations -------------------------------------------------------------------------------------------------


async def attach(session: AsyncSession, *, conversation_id: uuid.UUID, knowledge_base_id: uuid.UUID) -> None:
    await session.execute(
        insert(ConversationKnowledgeBase)
        .values(conversation_id=conversation_id, knowledge_base_id=knowledge_base_id)
        .on_conflict_do_nothing(index_elements=["conversation_id", "knowledge_base_id"])
    )


async def detach(session: AsyncSession, *, conversation_id: uuid.UUID, knowledge_base_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(ConversationKnowledgeBase)
        .where(
            ConversationKnowledgeBase.conversation_id == conversation_id,
            ConversationKnowledgeBase.knowledge_base_id == knowledge_base_id,
        )
        .returning(ConversationKnowledgeBase.knowledge_base_id)
    )
    return result.one_or_none() is not None


async def attached_to(
    session: AsyncSession, *, user_id: uuid.UUID, role: str, conversation_id: uuid.UUID
) -> list[tuple[KnowledgeBase, Access, int]]:
    """The knowledge bases attached to a conversation that the caller can still read, first attached first."""
    rows = await session.execute(
        _with_access(user_id, role)
        .join(ConversationKnowledgeBase, ConversationKnowledgeBase.knowledge_base_id == KnowledgeBase.id)
        .where(ConversationKnowledgeBase.conversation_id == conversation_id)
        .order_by(ConversationKnowledgeBase.added_at, KnowledgeBase.id)
    )
    return [(row[0], row.access, row.file_count) for row in rows]
