"""Plans as administrators keep them: list, create or replace, delete. Every change is audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from parley.auth.dependencies import PlansAdmin
from parley.auth.security import client_ip
from parley.db import SessionDep
from parley.errors import problem_responses
from parley.llm.dependencies import ModelRegistryDep
from parley.plans import service
from parley.plans.dependencies import SeededPlans
from parley.plans.schemas import PlanRead
from parley.policy.plans import PLAN_NAME_PATTERN, Plan

router = APIRouter(prefix="/api/v1/admin/plans", tags=["admin"])

PlanName = Annotated[str, Path(pattern=PLAN_NAME_PATTERN, description="The plan's name (a subscription tier)")]


def _out(named: service.NamedPlan) -> PlanRead:
    return PlanRead(name=named.name, limits=named.plan)


@router.get(
    "",
    response_model=list[PlanRead],
    responses=problem_responses(401, 403),
    summary="List the plans users can be on, with their limits",
)
async def list_plans(principal: PlansAdmin, session: SessionDep, seeds: SeededPlans) -> list[PlanRead]:
    return [_out(named) for named in await service.list_plans(session, seeds=seeds)]


@router.put(
    "/{name}",
    response_model=PlanRead,
    responses={201: {"model": PlanRead, "description": "Created"}, **problem_responses(401, 403, 404, 422)},
    summary="Create a plan or replace its limits (left-out limits become unlimited)",
)
async def put_plan(
    name: PlanName,
    body: Plan,
    request: Request,
    response: Response,
    principal: PlansAdmin,
    session: SessionDep,
    seeds: SeededPlans,
    registry: ModelRegistryDep,
) -> PlanRead:
    named, created = await service.put(
        session,
        admin_id=principal.user_id,
        name=name,
        plan=body,
        ip=client_ip(request),
        seeds=seeds,
        catalogue=registry.names,
    )
    if created:
        response.status_code = status.HTTP_201_CREATED
    return _out(named)


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Delete a plan nobody is on (free stays; a plan of the plan file returns to the file's limits)",
)
async def delete_plan(
    name: PlanName, request: Request, principal: PlansAdmin, session: SessionDep, seeds: SeededPlans
) -> Response:
    await service.delete(session, admin_id=principal.user_id, name=name, ip=client_ip(request), seeds=seeds)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
