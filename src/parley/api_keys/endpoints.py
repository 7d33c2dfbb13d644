from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from parley.api_keys import service
from parley.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from parley.auth.dependencies import InteractiveUser
from parley.auth.security import client_ip
from parley.db import SessionDep
from parley.errors import problem_responses

router = APIRouter(prefix="/api/v1/users/me/api-keys", tags=["api-keys"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=problem_responses(401, 403, 422),
    summary="Create an API key; the secret is shown in this response only",
)
async def create_api_key(
    body: ApiKeyCreate, request: Request, principal: InteractiveUser, session: SessionDep
) -> ApiKeyCreated:
    created = await service.create(
        session,
        principal.user,
        allowed=principal.permissions,
        name=body.name,
        scopes=body.scopes,
        expires_in_days=body.expires_in_days,
        ip=client_ip(request),
    )
    return ApiKeyCreated.model_validate(
        {**ApiKeyRead.model_validate(created.api_key).model_dump(), "key": created.secret}
    )


@router.get(
    "",
    response_model=list[ApiKeyRead],
    responses=problem_responses(401, 403),
    summary="Your live API keys (never their secrets)",
)
async def list_api_keys(principal: InteractiveUser, session: SessionDep) -> list[ApiKeyRead]:
    return [ApiKeyRead.model_validate(k) for k in await service.list_for(session, principal.user)]


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
    summary="Revoke an API key",
)
async def revoke_api_key(
    key_id: uuid.UUID, request: Request, principal: InteractiveUser, session: SessionDep
) -> Response:
    await service.revoke(session, principal.user, key_id, ip=client_ip(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
