"""Every SQL statement of privacy: a conversation's pseudonym map (bytes sealed by `crypto`, read by nothing else)."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.models import Conversation


async def mapping_of(session: AsyncSession, conversation_id: uuid.UUID) -> bytes | None:
    result = await session.execute(select(Conversation.pii_mapping).where(Conversation.id == conversation_id))
    return result.scalar_one_or_none()


async def save_mapping(session: AsyncSession, conversation_id: uuid.UUID, sealed: bytes) -> None:
    await session.execute(update(Conversation).where(Conversation.id == conversation_id).values(pii_mapping=sealed))
