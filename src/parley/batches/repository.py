"""Every SQL statement of the Batch API, scoped to the owner: another user's file or batch is never found."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.models import ApiKey, Batch, BatchFile, BatchResult, User
from parley.roles.repository import held_permissions


async def add(session: AsyncSession, row: BatchFile | Batch) -> None:
    session.add(row)
    await session.flush()
    await session.refresh(row)


async def file_of(session: AsyncSession, *, user_id: uuid.UUID, file_id: uuid.UUID) -> BatchFile | None:
    return await session.scalar(select(BatchFile).where(BatchFile.id == file_id, BatchFile.user_id == user_id))


async def files_of(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    purpose: str | None,
    after: BatchFile | None,
    newest_first: bool,
    limit: int,
) -> list[BatchFile]:
    query = select(BatchFile).where(BatchFile.user_id == user_id)
    if purpose is not None:
        query = query.where(BatchFile.purpose == purpose)
    if after is not None:
        if newest_first:
            query = query.where(
                or_(
                    BatchFile.created_at < after.created_at,
                    (BatchFile.created_at == after.created_at) & (BatchFile.id < after.id),
                )
            )
        else:
            query = query.where(
                or_(
                    BatchFile.created_at > after.created_at,
                    (BatchFile.created_at == after.created_at) & (BatchFile.id > after.id),
                )
            )
    order = (BatchFile.created_at.desc(), BatchFile.id.desc()) if newest_first else (BatchFile.created_at, BatchFile.id)
    return list(await session.scalars(query.order_by(*order).limit(limit)))


async def remove_file(session: AsyncSession, row: BatchFile) -> None:
    await session.execute(delete(BatchFile).where(BatchFile.id == row.id))


async def storage_keys_of(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    """The stored bytes of every file of a user (account erasure)."""
    return list(await session.scalars(select(BatchFile.storage_key).where(BatchFile.user_id == user_id)))


async def all_files_of(session: AsyncSession, user_id: uuid.UUID) -> list[BatchFile]:
    return list(
        await session.scalars(
            select(BatchFile).where(BatchFile.user_id == user_id).order_by(BatchFile.created_at, BatchFile.id)
        )
    )


async def batch_of(
    session: AsyncSession, *, user_id: uuid.UUID, batch_id: uuid.UUID, for_update: bool = False
) -> Batch | None:
    query = select(Batch).where(Batch.id == batch_id, Batch.user_id == user_id)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def batch_for_update(session: AsyncSession, batch_id: uuid.UUID) -> Batch | None:
    """A batch locked for its job (whoever owns it)."""
    return await session.scalar(select(Batch).where(Batch.id == batch_id).with_for_update())


async def batches_of(session: AsyncSession, *, user_id: uuid.UUID, after: Batch | None, limit: int) -> list[Batch]:
    query = select(Batch).where(Batch.user_id == user_id)
    if after is not None:
        query = query.where(
            or_(Batch.created_at < after.created_at, (Batch.created_at == after.created_at) & (Batch.id < after.id))
        )
    return list(await session.scalars(query.order_by(Batch.created_at.desc(), Batch.id.desc()).limit(limit)))


async def key_with_owner(
    session: AsyncSession, *, user_id: uuid.UUID, api_key_id: uuid.UUID | None
) -> tuple[ApiKey | None, User, list[str]] | None:
    """The key a batch runs as (None for a batch created with a signed-in session), its owner as stored now and
    the permissions of the owner's custom roles; None when the owner is gone."""
    if api_key_id is None:
        row = (
            await session.execute(select(User, held_permissions(User.id, User.role)).where(User.id == user_id))
        ).first()
        return (None, row[0], list(row[1] or ())) if row is not None else None
    found = (
        await session.execute(
            select(ApiKey, User, held_permissions(User.id, User.role))
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.id == api_key_id, ApiKey.user_id == user_id)
        )
    ).first()
    return (found[0], found[1], list(found[2] or ())) if found is not None else None


async def done_lines(session: AsyncSession, batch_id: uuid.UUID) -> set[int]:
    return set(await session.scalars(select(BatchResult.line).where(BatchResult.batch_id == batch_id)))


async def add_result(
    session: AsyncSession,
    *,
    batch_id: uuid.UUID,
    line: int,
    failed: bool,
    content_sealed: bytes,
    prompt_tokens: int,
    completion_tokens: int,
) -> bool:
    """Keep a line's result and count it on the batch, once: False when the line already had one."""
    inserted = await session.execute(
        insert(BatchResult)
        .values(batch_id=batch_id, line=line, failed=failed, content_sealed=content_sealed)
        .on_conflict_do_nothing()
        .returning(BatchResult.line)
    )
    if inserted.one_or_none() is None:
        return False
    counted: dict[str, Any] = {
        "failed_lines" if failed else "completed_lines": (Batch.failed_lines if failed else Batch.completed_lines) + 1,
        "prompt_tokens": Batch.prompt_tokens + prompt_tokens,
        "completion_tokens": Batch.completion_tokens + completion_tokens,
        "updated_at": func.now(),
    }
    await session.execute(
        update(Batch).where(Batch.id == batch_id).values(**counted).execution_options(synchronize_session=False)
    )
    return True


async def results_of(session: AsyncSession, batch_id: uuid.UUID) -> list[BatchResult]:
    return list(
        await session.scalars(select(BatchResult).where(BatchResult.batch_id == batch_id).order_by(BatchResult.line))
    )


async def forget_results(session: AsyncSession, batch_id: uuid.UUID) -> None:
    await session.execute(delete(BatchResult).where(BatchResult.batch_id == batch_id))


async def status_of(session: AsyncSession, batch_id: uuid.UUID) -> tuple[str, datetime] | None:
    row = (await session.execute(select(Batch.status, Batch.expires_at).where(Batch.id == batch_id))).first()
    return (row[0], row[1]) if row is not None else None
