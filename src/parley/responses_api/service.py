"""Stored responses: Parley's conversation storage behind `store` and `previous_response_id`.

A response created with `store: true` (OpenAI's default) is kept as a conversation of its owner (source
`responses`), sealed at rest like the web chat's messages and part of the owner's data (export, erasure,
retention), but not listed in the web chat's history: it holds API traffic, not chats. A response continuing
another (`previous_response_id`) joins that one's conversation, so a chain is one conversation, and the earlier
responses' input and output are the new one's context (branches from the same response share it too). Another
user's response is not found (404), like a missing one."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parley.auth.principal import Principal
from parley.db import Database
from parley.errors import NotFound
from parley.images.loader import ImageLoader
from parley.llm.base import ChatMessage
from parley.models import Message
from parley.responses_api import repository
from parley.responses_api.objects import ResponseRecord, record_id_of, response_id
from parley.responses_api.translate import messages_of, read_images


@dataclass(frozen=True)
class Chain:
    """The stored responses a new one continues: their conversation, the last one, and the context they make."""

    conversation_id: uuid.UUID
    # The responses it continues, oldest first (the last one is `previous_response_id`).
    ancestors: tuple[uuid.UUID, ...]
    history: Sequence[ChatMessage]


def _record(message: Message) -> ResponseRecord:
    return ResponseRecord.from_stored(
        message.id,
        message.content,
        model=message.model or "",
        prompt_tokens=message.prompt_tokens,
        completion_tokens=message.completion_tokens,
    )


async def _owned(session: AsyncSession, principal: Principal, value: str, *, param: str | None = None) -> Message:
    record_id = record_id_of(value, param=param)
    found = await repository.record_of(session, user_id=principal.user_id, record_id=record_id)
    if found is None:
        raise NotFound(f"No response found with id '{value}'.", param=param)
    return found


async def chain_of(database: Database, principal: Principal, previous_response_id: str, images: ImageLoader) -> Chain:
    """The context `previous_response_id` gives: the input and output of it and of every response it continues,
    oldest first, with the images they were asked about (kept as data URLs). 404 when it is not one of the
    caller's stored responses."""
    async with database.session() as session:
        last = await _owned(session, principal, previous_response_id, param="previous_response_id")
        ancestors = (*(uuid.UUID(value) for value in (last.extra.get("response") or {}).get("ancestors", ())), last.id)
        # A response deleted from the chain takes only its own turn out of the context.
        found = {message.id: message for message in await repository.records(session, last.conversation_id, ancestors)}
    history: list[ChatMessage] = []
    for record_id in ancestors:
        if record_id in found:
            record = _record(found[record_id])
            items = [*record.input, *record.output]
            history += messages_of(items, await read_images(items, images))
    return Chain(conversation_id=last.conversation_id, ancestors=ancestors, history=history)


async def store(database: Database, principal: Principal, record: ResponseRecord, chain: Chain | None) -> None:
    """Keep a finished response: in its chain's conversation, or a new one."""
    async with database.session() as session:
        conversation_id = (
            chain.conversation_id
            if chain is not None
            else await repository.new_conversation(session, user_id=principal.user_id, model=record.model)
        )
        usage = record.usage
        await repository.insert_record(
            session,
            record_id=record.id,
            conversation_id=conversation_id,
            owner=principal.user_id,
            text=record.stored_text(),
            model=record.model,
            status=record.status,
            ancestors=chain.ancestors if chain is not None else (),
            prompt_tokens=usage.prompt_tokens if usage is not None else 0,
            completion_tokens=usage.completion_tokens if usage is not None else 0,
        )


async def get(session: AsyncSession, principal: Principal, value: str) -> dict[str, Any]:
    """A stored response of the caller's, as the Responses API returns it."""
    return _record(await _owned(session, principal, value)).body()


async def input_items(session: AsyncSession, principal: Principal, value: str, *, order: str) -> list[dict[str, Any]]:
    """The input items of a stored response of the caller's (`order`: `asc` as given, or `desc`)."""
    items = _record(await _owned(session, principal, value)).input
    return items if order == "asc" else list(reversed(items))


async def delete(session: AsyncSession, principal: Principal, value: str) -> dict[str, Any]:
    """Delete a stored response of the caller's (its conversation with it when it was the last one)."""
    record = await _owned(session, principal, value)
    await repository.remove_record(session, record)
    return {"id": response_id(record.id), "object": "response", "deleted": True}
