"""Every SQL statement of the files domain, scoped by who is asking."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.knowledge_bases.repository import file_readable_through_knowledge_base
from parley.models import File, KnowledgeBaseFile


def owned_by(user_id: uuid.UUID) -> Select[File]:
    """The user's own uploads: what they list, and the only files they may delete."""
    return select(File).where(File.user_id == user_id)


def readable_by(user_id: uuid.UUID, role: str) -> Select[File]:
    """Files the user may see and download.

    The access rule of files, in one place: a user's own uploads, and files shared through a knowledge base
    the user may read (owned, or granted to the user, their `role` or a group of theirs), so reading,
    downloading and retrieval agree.
    """
    return select(File).where(
        or_(File.user_id == user_id, file_readable_through_knowledge_base(File.id, user_id=user_id, role=role))
    )


async def get_readable(session: AsyncSession, *, user_id: uuid.UUID, role: str, file_id: uuid.UUID) -> File | None:
    return await session.scalar(readable_by(user_id, role).where(File.id == file_id))


async def own_images(session: AsyncSession, *, user_id: uuid.UUID, file_ids: Sequence[uuid.UUID]) -> list[File]:
    """Of `file_ids`, the user's own image files (README, "Images")."""
    if not file_ids:
        return []
    query = select(File).where(File.id.in_(file_ids), File.user_id == user_id, File.file_type == "image")
    return list((await session.scalars(query)).all())


async def list_slice(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID | None,
    status: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[File]:
    """The user's files newest first, `limit` rows after the keyset position `after`."""
    query = owned_by(user_id)
    if conversation_id is not None:
        query = query.where(File.conversation_id == conversation_id)
    if status is not None:
        query = query.where(File.status == status)
    if after is not None:
        moment, row_id = after
        query = query.where(or_(File.created_at < moment, (File.created_at == moment) & (File.id < row_id)))
    rows = await session.scalars(query.order_by(File.created_at.desc(), File.id.desc()).limit(limit))
    return list(rows)


async def add(session: AsyncSession, file: File) -> File:
    session.add(file)
    await session.flush()
    await session.refresh(file)
    return file


async def remove(session: AsyncSession, *, user_id: uuid.UUID, file_id: uuid.UUID) -> str | None:
    """Delete the user's file row (its chunks and memberships go by cascade); its storage key, or None."""
    result = await session.execute(
        delete(File).where(File.id == file_id, File.user_id == user_id).returning(File.storage_key)
    )
    return result.scalar_one_or_none()


async def remove_all_of(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    """Delete every file row of a user (chunks and memberships go by cascade); their storage keys."""
    result = await session.execute(delete(File).where(File.user_id == user_id).returning(File.storage_key))
    return list(result.scalars())


async def remove_uploaded_before(
    session: AsyncSession, *, user_id: uuid.UUID, before: datetime, limit: int
) -> list[str]:
    """Delete at most `limit` of a user's uploads stored before `before` that are in no knowledge base (curated
    documents stay until their owner removes them); rows another transaction holds wait for the next batch.
    Their storage keys."""
    in_knowledge_base = select(KnowledgeBaseFile.file_id).where(KnowledgeBaseFile.file_id == File.id).exists()
    due = (
        select(File.id)
        .where(File.user_id == user_id, File.created_at < before, ~in_knowledge_base)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(delete(File).where(File.id.in_(due)).returning(File.storage_key))
    return list(result.scalars())
