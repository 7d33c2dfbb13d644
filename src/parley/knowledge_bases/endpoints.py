from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from parley.auth.security import client_ip
from parley.db import SessionDep
from parley.errors import problem_responses
from parley.kit.pagination import CursorPage
from parley.knowledge_bases import service
from parley.knowledge_bases.auth import (
    ConversationSourcesRead,
    ConversationSourcesWrite,
    KnowledgeBaseRead,
    KnowledgeBaseWrite,
    is_curator,
)
from parley.knowledge_bases.schemas import (
    Grant,
    GrantCreate,
    KnowledgeBase,
    KnowledgeBaseCreate,
    KnowledgeBaseFile,
    KnowledgeBaseFileAdd,
    KnowledgeBaseUpdate,
)
from parley.read_session import ReadSessionDep

router = APIRouter(prefix="/api/v1/knowledge-bases", tags=["knowledge-bases"])
conversation_router = APIRouter(prefix="/api/v1/conversations", tags=["knowledge-bases"])

Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=100)]


def _out(view: service.KnowledgeBaseView) -> KnowledgeBase:
    kb = view.knowledge_base
    return KnowledgeBase(
        id=kb.id,
        name=kb.name,
        description=kb.description,
        owner_id=kb.owner_id,
        access=view.access,
        file_count=view.file_count,
        created_at=kb.created_at,
        updated_at=kb.updated_at,
    )


def _file_out(member: service.MemberFile) -> KnowledgeBaseFile:
    file = member.file
    return KnowledgeBaseFile(
        id=file.id,
        filename=file.filename,
        file_type=file.file_type,
        file_size=file.file_size,
        status=file.status,
        chunk_count=file.chunk_count,
        owner_id=file.user_id,
        added_at=member.added_at,
    )


def _grant_out(view: service.GrantView) -> Grant:
    grant = view.grant
    return Grant(
        id=grant.id,
        knowledge_base_id=grant.knowledge_base_id,
        user_id=grant.user_id,
        user_email=view.user_email,
        role=grant.role,
        group_id=grant.group_id,
        group_name=view.group_name,
        permission="write" if grant.permission == "write" else "read",
        created_at=grant.created_at,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=KnowledgeBase,
    responses=problem_responses(401, 403, 422),
    summary="Create a knowledge base",
)
async def create_knowledge_base(
    body: KnowledgeBaseCreate, principal: KnowledgeBaseWrite, session: SessionDep
) -> KnowledgeBase:
    view = await service.create(session, owner_id=principal.user_id, name=body.name, description=body.description)
    return _out(view)


@router.get(
    "",
    response_model=CursorPage[KnowledgeBase],
    responses=problem_responses(401, 403, 422),
    summary="Knowledge bases you own or were granted, newest first",
)
async def list_knowledge_bases(
    principal: KnowledgeBaseRead, session: ReadSessionDep, cursor: Cursor = None, limit: Limit = 30
) -> CursorPage[KnowledgeBase]:
    found = await service.list_for(
        session,
        user_id=principal.user_id,
        role=principal.user.role,
        manage=is_curator(principal),
        cursor=cursor,
        limit=limit,
    )
    return CursorPage[KnowledgeBase](items=[_out(v) for v in found.items], next_cursor=found.next_cursor)


@router.get(
    "/{knowledge_base_id}",
    response_model=KnowledgeBase,
    responses=problem_responses(401, 403, 404, 422),
    summary="A knowledge base with your access level",
)
async def read_knowledge_base(
    knowledge_base_id: uuid.UUID, principal: KnowledgeBaseRead, session: SessionDep
) -> KnowledgeBase:
    view = await service.get(
        session,
        user_id=principal.user_id,
        role=principal.user.role,
        manage=is_curator(principal),
        knowledge_base_id=knowledge_base_id,
    )
    return _out(view)


@router.patch(
    "/{knowledge_base_id}",
    response_model=KnowledgeBase,
    responses=problem_responses(401, 403, 404, 422),
    summary="Rename or describe a knowledge base (owner or write access)",
)
async def update_knowledge_base(
    knowledge_base_id: uuid.UUID, body: KnowledgeBaseUpdate, principal: KnowledgeBaseWrite, session: SessionDep
) -> KnowledgeBase:
    view = await service.update(
        session,
        user_id=principal.user_id,
        role=principal.user.role,
        manage=is_curator(principal),
        knowledge_base_id=knowledge_base_id,
        name=body.name,
        description=body.description,
    )
    return _out(view)


@router.delete(
    "/{knowledge_base_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
    summary="Delete a knowledge base (owner only; the files stay)",
)
async def delete_knowledge_base(
    knowledge_base_id: uuid.UUID, request: Request, principal: KnowledgeBaseWrite, session: SessionDep
) -> Response:
    await service.delete(
        session,
        user_id=principal.user_id,
        role=principal.user.role,
        manage=is_curator(principal),
        knowledge_base_id=knowledge_base_id,
        ip=client_ip(request),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{knowledge_base_id}/files",
    response_model=CursorPage[KnowledgeBaseFile],
    responses=problem_responses(401, 403, 404, 422),
    summary="The files of a knowledge base, most recently added first",
)
async def list_knowledge_base_files(
    knowledge_base_id: uuid.UUID,
    principal: KnowledgeBaseRead,
    session: SessionDep,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> CursorPage[KnowledgeBaseFile]:
    found = await service.list_files(
        session,
        user_id=principal.user_id,
        role=principal.user.role,
        manage=is_curator(principal),
        knowledge_base_id=knowledge_base_id,
        cursor=cursor,
        limit=limit,
    )
    return CursorPage[KnowledgeBaseFile](items=[_file_out(m) for m in found.items], next_cursor=found.next_cursor)


@router.post(
    "/{knowledge_base_id}/files",
    status_code=status.HTTP_201_CREATED,
    response_model=KnowledgeBaseFile,
    responses=problem_responses(401, 403, 404, 422),
    summary="Add one of your files to a knowledge base (owner or write access)",
)
async def add_knowledge_base_file(
    knowledge_base_id: uuid.UUID, body: KnowledgeBaseFileAdd, principal: KnowledgeBaseWrite, session: SessionDep
) -> KnowledgeBaseFile:
    member = await service.add_file(
        session,
        user_id=principal.user_id,
        role=principal.user.role,
        manage=is_curator(principal),
        knowledge_base_id=knowledge_base_id,
        file_id=body.file_id,
    )
    return _file_out(member)


@router.delete(
    "/{knowledge_base_id}/files/{file_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
    summary="Take a file out of a knowledge base (owner or write access)",
)
async def remove_knowledge_base_file(
    knowledge_base_id: uuid.UUID, file_id: uuid.UUID, principal: KnowledgeBaseWrite, session: SessionDep
) -> Response:
    await service.remove_file(
        session,
        user_id=principal.user_id,
        role=principal.user.role,
        manage=is_curator(principal),
        knowledge_base_id=knowledge_base_id,
        file_id=file_id,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{knowledge_base_id}/grants",
    response_model=list[Grant],
    responses=problem_responses(401, 403, 404, 422),
    summary="Who a knowledge base is shared with (owner only)",
)
async def list_grants(knowledge_base_id: uuid.UUID, principal: KnowledgeBaseRead, session: SessionDep) -> list[Grant]:
    grants = await service.list_grants(
        session,
        user_id=principal.user_id,
        role=principal.user.role,
        manage=is_curator(principal),
        knowledge_base_id=knowledge_base_id,
    )
    return [_grant_out(g) for g in grants]


@router.post(
    "/{knowledge_base_id}/grants",
    status_code=status.HTTP_201_CREATED,
    response_model=Grant,
    responses=problem_responses(401, 403, 404, 422),
    summary="Share a knowledge base with a user, a role or a group (owner only)",
)
async def create_grant(
    knowledge_base_id: uuid.UUID,
    body: GrantCreate,
    request: Request,
    principal: KnowledgeBaseWrite,
    session: SessionDep,
) -> Grant:
    view = await service.grant(
        session,
        user_id=principal.user_id,
        role=principal.user.role,
        manage=is_curator(principal),
        knowledge_base_id=knowledge_base_id,
        grantee_id=body.user_id,
        grantee_email=str(body.user_email) if body.user_email is not None else None,
        grantee_role=body.role.value if body.role is not None else None,
        grantee_group_id=body.group_id,
        permission=body.permission,
        ip=client_ip(request),
    )
    return _grant_out(view)


@router.delete(
    "/{knowledge_base_id}/grants/{grant_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
    summary="Withdraw a grant (owner only); it stops working at once",
)
async def delete_grant(
    knowledge_base_id: uuid.UUID,
    grant_id: uuid.UUID,
    request: Request,
    principal: KnowledgeBaseWrite,
    session: SessionDep,
) -> Response:
    await service.revoke(
        session,
        user_id=principal.user_id,
        role=principal.user.role,
        manage=is_curator(principal),
        knowledge_base_id=knowledge_base_id,
        grant_id=grant_id,
        ip=client_ip(request),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@conversation_router.get(
    "/{conversation_id}/knowledge-bases",
    response_model=list[KnowledgeBase],
    responses=problem_responses(401, 403, 404, 422),
    summary="The knowledge bases a conversation searches",
)
async def list_conversation_knowledge_bases(
    conversation_id: uuid.UUID, principal: ConversationSourcesRead, session: SessionDep
) -> list[KnowledgeBase]:
    views = await service.attached_to(
        session, user_id=principal.user_id, role=principal.user.role, conversation_id=conversation_id
    )
    return [_out(v) for v in views]


@conversation_router.put(
    "/{conversation_id}/knowledge-bases/{knowledge_base_id}",
    response_model=KnowledgeBase,
    responses=problem_responses(401, 403, 404, 422),
    summary="Attach a knowledge base you can read to your conversation",
)
async def attach_knowledge_base(
    conversation_id: uuid.UUID, knowledge_base_id: uuid.UUID, principal: ConversationSourcesWrite, session: SessionDep
) -> KnowledgeBase:
    view = await service.attach(
        session,
        user_id=principal.user_id,
        role=principal.user.role,
        conversation_id=conversation_id,
        knowledge_base_id=knowledge_base_id,
    )
    return _out(view)


@conversation_router.delete(
    "/{conversation_id}/knowledge-bases/{knowledge_base_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
    summary="Detach a knowledge base from your conversation",
)
async def detach_knowledge_base(
    conversation_id: uuid.UUID, knowledge_base_id: uuid.UUID, principal: ConversationSourcesWrite, session: SessionDep
) -> Response:
    await service.detach(
        session, user_id=principal.user_id, conversation_id=conversation_id, knowledge_base_id=knowledge_base_id
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
