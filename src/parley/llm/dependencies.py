"""The model catalogue as a request dependency: the registry built at start-up (`create_app`), kept on the app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from parley.llm.registry import ModelRegistry


async def _model_registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.models
    return registry


# The configured models (names, providers, labels), in catalogue order.
ModelRegistryDep = Annotated[ModelRegistry, Depends(_model_registry)]
