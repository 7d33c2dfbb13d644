"""The model catalogue as administrators keep it (README, "Models"): every model, whatever their own plan allows
(the plans and limits pages offer these names); models added, edited (prices, fallbacks, capabilities),
disabled and deleted at run time. Every change is audited and reaches every replica within seconds
(`parley.llm.catalogue_sync`). API keys are never returned: entries name the variable that holds one, or store
one sealed (`api_key`, write-only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status

from parley.auth.dependencies import ModelsAdmin
from parley.auth.security import client_ip
from parley.db import SessionDep, after_commit_awaited
from parley.errors import problem_responses
from parley.llm import catalogue_service as service
from parley.llm.catalogue_schemas import MODEL_NAME_PATTERN, CatalogueModel, ModelCreate, ModelUpdate
from parley.llm.catalogue_sync import CatalogueSync
from parley.plans.dependencies import SeededPlans

router = APIRouter(prefix="/api/v1/admin/models", tags=["admin"])

ModelName = Annotated[str, Path(pattern=MODEL_NAME_PATTERN, description="The model's name (the alias users pick)")]


async def _catalogue_sync(request: Request) -> CatalogueSync:
    sync: CatalogueSync = request.app.state.model_catalogue
    return sync


CatalogueSyncDep = Annotated[CatalogueSync, Depends(_catalogue_sync)]


async def _nothing() -> None:
    return None


def _apply_after_commit(session: SessionDep, sync: CatalogueSync) -> None:
    # This replica serves the change once it is committed; the others on their next poll.
    after_commit_awaited(session, sync.refresh_quietly, on_rollback=_nothing)


@router.get(
    "",
    response_model=list[CatalogueModel],
    responses=problem_responses(401, 403),
    summary="Every model of the catalogue, enabled or not (the names plans and limit overrides may list)",
)
async def list_catalogue(principal: ModelsAdmin, session: SessionDep, sync: CatalogueSyncDep) -> list[CatalogueModel]:
    catalogue = await service.load(session, sync.seed, environ=sync.environ, crypto=sync.crypto)
    return [service.to_schema(entry) for entry in catalogue.entries]


@router.post(
    "",
    response_model=CatalogueModel,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 403, 409, 422),
    summary="Add a model to the catalogue",
)
async def create_model(
    body: ModelCreate, request: Request, principal: ModelsAdmin, session: SessionDep, sync: CatalogueSyncDep
) -> CatalogueModel:
    entry = await service.create(
        session,
        seed=sync.seed,
        environ=sync.environ,
        crypto=sync.crypto,
        body=body,
        admin_id=principal.user_id,
        ip=client_ip(request),
    )
    _apply_after_commit(session, sync)
    return service.to_schema(entry)


@router.patch(
    "/{name:path}",
    response_model=CatalogueModel,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Change a model's fields (prices, fallbacks, capabilities…), or disable or enable it",
)
async def update_model(
    name: ModelName,
    body: ModelUpdate,
    request: Request,
    principal: ModelsAdmin,
    session: SessionDep,
    sync: CatalogueSyncDep,
) -> CatalogueModel:
    entry = await service.update(
        session,
        seed=sync.seed,
        environ=sync.environ,
        crypto=sync.crypto,
        name=name,
        body=body,
        admin_id=principal.user_id,
        ip=client_ip(request),
    )
    _apply_after_commit(session, sync)
    return service.to_schema(entry)


@router.delete(
    "/{name:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Delete a model added at run time, or undo the changes to a model of the models file",
)
async def delete_model(
    name: ModelName,
    request: Request,
    principal: ModelsAdmin,
    session: SessionDep,
    sync: CatalogueSyncDep,
    plan_seeds: SeededPlans,
) -> Response:
    await service.delete(
        session,
        seed=sync.seed,
        environ=sync.environ,
        crypto=sync.crypto,
        name=name,
        plan_seeds=plan_seeds,
        admin_id=principal.user_id,
        ip=client_ip(request),
    )
    _apply_after_commit(session, sync)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
