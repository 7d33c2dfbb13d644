"""Configured model aliases → provider instances, started and stopped with the app, rebuilt when the catalogue
changes at run time (`apply`, fed by `parley.llm.catalogue_sync`)."""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import structlog

from parley.llm.base import ChatModel
from parley.llm.config import ModelCatalog, ModelConfig

_logger = structlog.get_logger("parley.llm")

# Imported on first use, so a deployment without, say, Bedrock never loads boto.
_PROVIDER_CLASSES = {
    "local": ("parley.llm.providers.local", "LocalModel"),
    "openai": ("parley.llm.providers.openai_compat", "OpenAICompatibleModel"),
    "anthropic": ("parley.llm.providers.anthropic", "AnthropicModel"),
    "bedrock": ("parley.llm.providers.bedrock", "BedrockModel"),
    "scripted": ("parley.llm.providers.scripted", "ScriptedModel"),
}


@dataclass(frozen=True)
class RegisteredModel:
    config: ModelConfig
    model: ChatModel


def build_provider(config: ModelConfig, *, data_dir: Path) -> ChatModel:
    module_name, class_name = _PROVIDER_CLASSES[config.provider]
    provider_class: Any = getattr(importlib.import_module(module_name), class_name)
    return cast(ChatModel, provider_class(config, data_dir=data_dir))


ModelState = Literal["loading", "ready", "failed"]
# How long a provider client replaced at run time stays open for the answers already streaming on it.
_RETIRE_AFTER_SECONDS = 900.0


class ModelRegistry:
    """The catalogue's models, each built once. Providers with a `start()` (the local model) start loading in
    the background at start-up, so the server is up at once and the first question does not pay the load; their
    `stream()` waits until they are ready. `states` says where each load is, for readiness checks."""

    def __init__(self, catalog: ModelCatalog, *, data_dir: Path) -> None:
        self.catalog = catalog
        # When this catalogue was loaded (Unix seconds): the `created` of /v1/models.
        self.created = int(time.time())
        self._data_dir = data_dir
        self._models = {c.name: RegisteredModel(c, build_provider(c, data_dir=data_dir)) for c in catalog.models}
        self._starting: list[asyncio.Task[None]] = []
        # Models with nothing to load (remote ones) are ready from the start.
        self._states: dict[str, ModelState] = dict.fromkeys(self._models, "ready")
        # Providers replaced or removed by `apply`, closed once the answers they may still stream are over.
        self._retiring: set[asyncio.Task[None]] = set()

    def get(self, name: str) -> RegisteredModel | None:
        return self._models.get(name)

    def config(self, name: str) -> ModelConfig | None:
        registered = self._models.get(name)
        return registered.config if registered else None

    def __iter__(self) -> Iterator[RegisteredModel]:
        return iter(self._models.values())

    @property
    def names(self) -> list[str]:
        return list(self._models)

    @property
    def states(self) -> dict[str, ModelState]:
        """Each model's load: `loading` while its start-up load runs, then `ready` or `failed`."""
        return dict(self._states)

    async def start(self) -> None:
        """Begin loading every model that loads (without waiting for any): called once, at start-up."""
        for registered in self._models.values():
            start = getattr(registered.model, "start", None)
            if start is not None:
                name = registered.config.name
                self._states[name] = "loading"
                self._starting.append(asyncio.create_task(self._start_one(name, start), name=f"load model {name}"))

    async def _start_one(self, name: str, start: Any) -> None:
        try:
            await start()
        except Exception as exc:  # reported, and the model's stream() raises it to callers
            self._states[name] = "failed"
            _logger.error("model_start_failed", model=name, error=str(exc))
        else:
            self._states[name] = "ready"
            _logger.info("model_ready", model=name)

    def apply(self, catalog: ModelCatalog) -> list[str]:
        """Serve `catalog` from now on: a model whose entry changed gets a new provider client (a model whose
        entry is unchanged keeps its own, with its connections and loaded weights); a removed model's client is
        retired. The names rebuilt or removed. Answers already streaming finish on the client they started on."""
        models: dict[str, RegisteredModel] = {}
        changed: list[str] = []
        for config in catalog.models:
            current = self._models.get(config.name)
            if current is not None and current.config == config:
                models[config.name] = current
                continue
            models[config.name] = RegisteredModel(config, build_provider(config, data_dir=self._data_dir))
            changed.append(config.name)
            if current is not None:
                self._retire(current)
        for name, registered in self._models.items():
            if name not in models:
                self._retire(registered)
                self._states.pop(name, None)
                changed.append(name)
        self._models = models
        self.catalog = catalog
        for name in changed:
            registered_now = models.get(name)
            if registered_now is None:
                continue
            start = getattr(registered_now.model, "start", None)
            if start is None:
                self._states[name] = "ready"
            else:
                # Left out of `states` until loaded: a replica that serves does not turn unready (readiness
                # checks `states`) because an administrator added a model.
                self._states.pop(name, None)
                self._starting.append(asyncio.create_task(self._start_one(name, start), name=f"load model {name}"))
        return changed

    def _retire(self, registered: RegisteredModel) -> None:
        task = asyncio.create_task(self._close_later(registered), name=f"retire model {registered.config.name}")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    @staticmethod
    async def _close_later(registered: RegisteredModel) -> None:
        try:
            # An answer that started on the old client may stream for minutes: it keeps its client until then.
            await asyncio.sleep(_RETIRE_AFTER_SECONDS)
        finally:
            await registered.model.aclose()

    async def aclose(self) -> None:
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        for task in self._starting:
            task.cancel()
        await asyncio.gather(*self._starting, return_exceptions=True)
        await asyncio.gather(*(m.model.aclose() for m in self._models.values()), return_exceptions=True)
