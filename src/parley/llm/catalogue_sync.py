"""Keeps this replica's model registry in step with the catalogue in the database.

Each replica asks PostgreSQL every `poll_seconds` (2 s) for the catalogue's fingerprint (its entries' count and
highest revision: one index-free aggregate over a table of a few rows) and, when it moved, reads the entries and
rebuilds the provider clients of the models that changed (`ModelRegistry.apply`). The replica that made a change
applies it as soon as it commits. So another replica serves a change within a few seconds, with no message bus to
run: the database every replica already uses is the one source of truth, and a replica that was down or
partitioned catches up on its next poll (a published event it missed would be lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping

import structlog

from parley.crypto.keyring import Crypto
from parley.db import Database
from parley.llm import catalogue_repository, catalogue_service
from parley.llm.catalogue_service import Catalogue
from parley.llm.config import ModelCatalog
from parley.llm.registry import ModelRegistry

_logger = structlog.get_logger("parley.llm.catalogue")

POLL_SECONDS = 2.0


class CatalogueSync:
    """The seed (the models file), the stored entries over it, and the registry they feed."""

    def __init__(
        self,
        database: Database,
        seed: ModelCatalog,
        *,
        poll_seconds: float = POLL_SECONDS,
        environ: Mapping[str, str] | None = None,
        crypto: Crypto | None = None,
    ) -> None:
        self.database = database
        # Opens the API keys administrators stored (sealed with the system's data key).
        self.crypto = crypto
        self.seed = seed
        self.poll_seconds = poll_seconds
        # API keys are read where the catalogue is resolved: entries added at run time name variables the
        # settings could not know of in advance (the models file's are read the same way, by `Settings`).
        self.environ: Mapping[str, str] = environ if environ is not None else os.environ
        self._registry: ModelRegistry | None = None
        self._seen: catalogue_repository.Fingerprint | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def load(self) -> ModelCatalog:
        """The catalogue to serve at start-up (the seed with the stored entries over it)."""
        async with self.database.session() as session:
            fingerprint = await catalogue_repository.fingerprint(session)
            catalogue = await catalogue_service.load(session, self.seed, environ=self.environ, crypto=self.crypto)
        self._seen = fingerprint
        return catalogue.served

    async def start(self, registry: ModelRegistry) -> None:
        self._registry = registry
        self._task = asyncio.create_task(self._poll(), name="model catalogue sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def refresh(self) -> bool:
        """Apply the stored catalogue if it changed since this replica last read it; True when it did."""
        registry = self._registry
        if registry is None:
            return False
        async with self._lock:
            async with self.database.session() as session:
                fingerprint = await catalogue_repository.fingerprint(session)
                if fingerprint == self._seen:
                    return False
                catalogue: Catalogue = await catalogue_service.load(
                    session, self.seed, environ=self.environ, crypto=self.crypto
                )
            changed = registry.apply(catalogue.served)
            self._seen = fingerprint
        if changed:
            _logger.info("model_catalogue_applied", models=changed)
        return True

    async def refresh_quietly(self) -> None:
        """`refresh`, for after a commit: a failure is logged (the next poll tries again), never raised."""
        try:
            await self.refresh()
        except Exception as exc:  # the change is committed; the poll applies it if this could not
            _logger.warning("model_catalogue_refresh_failed", error=f"{type(exc).__name__}: {exc}")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            await self.refresh_quietly()
