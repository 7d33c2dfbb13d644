from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from parley.conversations import service
from parley.conversations.auth import ConversationRead, ConversationWrite
from parley.conversations.schemas import (
    Conversation,
    ConversationContext,
    ConversationCreate,
    ConversationDetail,
    ConversationUpdate,
    FeedbackPut,
    Message,
)
from parley.db import SessionDep
from parley.errors import problem_responses
from parley.kit.pagination import CursorPage
from parley.llm.dependencies import ModelRegistryDep
from parley.read_session import ReadSessionDep

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])
message_router = APIRouter(prefix="/api/v1/messages", tags=["conversations"])


@router.get(
    "",
    response_model=CursorPage[Conversation],
    responses=problem_responses(401, 403, 422),
    summary="Your conversations, newest activity first",
)
async def list_conversations(
    principal: ConversationRead,
    session: ReadSessionDep,
    archived: Annotated[bool | None, Query(description="true: only archived; false (default): only active")] = False,
    q: Annotated[str | None, Query(max_length=200, description="Words to find in titles and messages")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
) -> CursorPage[Conversation]:
    found = await service.list_for(
        session, user_id=principal.user_id, archived=archived, search=q, cursor=cursor, limit=limit
    )
    return CursorPage[Conversation](
        items=[Conversation.model_validate(c) for c in found.items], next_cursor=found.next_cursor
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Conversation,
    responses=problem_responses(401, 403, 422),
    summary="Start a conversation",
)
async def create_conversation(
    body: ConversationCreate, principal: ConversationWrite, session: SessionDep
) -> Conversation:
    conversation = await service.create(session, user_id=principal.user_id, title=body.title)
    return Conversation.model_validate(conversation)


@router.get(
    "/{conversation_id}",
    response_model=ConversationDetail,
    responses=problem_responses(401, 403, 404, 422),
    summary="A conversation with its messages",
)
async def read_conversation(
    conversation_id: uuid.UUID, principal: ConversationRead, session: ReadSessionDep
) -> ConversationDetail:
    conversation, messages = await service.get_with_messages(
        session, user_id=principal.user_id, conversation_id=conversation_id
    )
    return ConversationDetail.model_validate(
        {
            **Conversation.model_validate(conversation).model_dump(),
            "messages": [Message.model_validate(m) for m in messages],
        }
    )


@router.get(
    "/{conversation_id}/context",
    response_model=ConversationContext,
    responses=problem_responses(401, 403, 404, 422),
    summary="How full the conversation's context window is, and what the conversation has cost",
)
async def read_context(
    conversation_id: uuid.UUID,
    principal: ConversationRead,
    session: SessionDep,
    models: ModelRegistryDep,
) -> ConversationContext:
    def window(name: str) -> int | None:
        config = models.config(name)
        return config.context_window if config is not None else None

    found = await service.context_use(
        session,
        user_id=principal.user_id,
        conversation_id=conversation_id,
        windows=window,
        default_model=models.catalog.default_name,
    )
    return ConversationContext(
        model=found.model,
        context_window=found.context_window,
        context_tokens=found.context_tokens,
        cost_usd=float(found.cost_usd),
    )


@router.patch(
    "/{conversation_id}",
    response_model=Conversation,
    responses=problem_responses(401, 403, 404, 422),
    summary="Rename, archive or unarchive a conversation",
)
async def update_conversation(
    conversation_id: uuid.UUID, body: ConversationUpdate, principal: ConversationWrite, session: SessionDep
) -> Conversation:
    conversation = await service.update(
        session,
        user_id=principal.user_id,
        conversation_id=conversation_id,
        title=body.title,
        is_archived=body.is_archived,
    )
    return Conversation.model_validate(conversation)


@router.delete(
    "/{conversation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
    summary="Delete a conversation and its messages",
)
async def delete_conversation(
    conversation_id: uuid.UUID, principal: ConversationWrite, session: SessionDep
) -> Response:
    await service.delete(session, user_id=principal.user_id, conversation_id=conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@message_router.put(
    "/{message_id}/feedback",
    response_model=Message,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Rate one of your answers thumbs up or down, with an optional comment (replaces an earlier rating)",
)
async def put_feedback(
    message_id: uuid.UUID, body: FeedbackPut, principal: ConversationWrite, session: SessionDep
) -> Message:
    message = await service.set_feedback(
        session, user_id=principal.user_id, message_id=message_id, rating=body.rating, comment=body.comment
    )
    return Message.model_validate(message)


@message_router.delete(
    "/{message_id}/feedback",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
    summary="Withdraw your rating of an answer",
)
async def delete_feedback(message_id: uuid.UUID, principal: ConversationWrite, session: SessionDep) -> Response:
    await service.clear_feedback(session, user_id=principal.user_id, message_id=message_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
