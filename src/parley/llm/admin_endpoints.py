"""The model catalogue as administrators see it: every configured model, whatever their own plan allows (the
plans and limits pages offer these names)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from parley.auth.dependencies import ModelsAdmin
from parley.errors import problem_responses
from parley.llm.dependencies import ModelRegistryDep

router = APIRouter(prefix="/api/v1/admin/models", tags=["admin"])


class CatalogueModel(BaseModel):
    """One configured model: the name plans and chats use, its display label, and its provider."""

    name: str
    label: str | None
    provider: str


@router.get(
    "",
    response_model=list[CatalogueModel],
    responses=problem_responses(401, 403),
    summary="Every configured model (the names plans and limit overrides may list)",
)
async def list_catalogue(principal: ModelsAdmin, registry: ModelRegistryDep) -> list[CatalogueModel]:
    return [CatalogueModel(name=m.config.name, label=m.config.label, provider=m.config.provider) for m in registry]
