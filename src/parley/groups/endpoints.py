"""Groups as every signed-in user sees them: names to share with, and the groups one belongs to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from parley.auth.dependencies import ProfileReader
from parley.db import SessionDep
from parley.errors import problem_responses
from parley.groups import service
from parley.groups.schemas import GroupSummary

router = APIRouter(tags=["groups"])


def summary(view: service.GroupView) -> GroupSummary:
    group = view.group
    return GroupSummary(id=group.id, name=group.name, description=group.description, member_count=view.member_count)


@router.get(
    "/api/v1/groups",
    response_model=list[GroupSummary],
    responses=problem_responses(401, 403, 422),
    summary="Groups to share with, by name (search by name or description)",
)
async def list_groups(
    principal: ProfileReader,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=100, description="Substring of the name or description")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[GroupSummary]:
    views, _ = await service.list_page(session, search=q, page=1, page_size=limit)
    return [summary(view) for view in views]


@router.get(
    "/api/v1/users/me/groups",
    response_model=list[GroupSummary],
    responses=problem_responses(401, 403),
    summary="The groups you belong to",
)
async def my_groups(principal: ProfileReader, session: SessionDep) -> list[GroupSummary]:
    return [summary(view) for view in await service.of_user(session, principal.user_id)]
