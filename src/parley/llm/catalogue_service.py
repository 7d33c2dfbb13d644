"""The model catalogue managed at run time (README, "Models"): the models file is the seed, and administrators'
entries in the database lie over it: models they added, fields they changed, models they disabled.

`resolve` turns the seed and the stored entries into what every replica serves; `create`, `update` and `delete`
validate an admin's change against the whole catalogue, store it and audit it. Replicas pick changes up through
`parley.llm.catalogue_sync`. An entry's API key is named (`api_key_env`, an environment variable read when the
catalogue is resolved) or stored: sent once by an administrator, sealed with the system's data key
(`parley.crypto`), opened only to build the provider client, never returned, logged or audited.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.audit.service import AuditAction, record
from parley.crypto import CryptoError, context_of
from parley.crypto.keyring import Crypto
from parley.errors import Conflict, NotFound, Unprocessable
from parley.llm import catalogue_repository as repository
from parley.llm.catalogue_schemas import CatalogueModel, ModelCreate, ModelUpdate
from parley.llm.config import AUTO_MODEL, ModelCatalog, ModelConfig
from parley.models import ModelCatalogueEntry
from parley.plans import service as plans_service
from parley.policy.plans import Plan

_logger = structlog.get_logger("parley.llm.catalogue")

# Variables an administrator may name as a model's key over the API: a provider's key or token, never one of
# Parley's own settings (its database URL, encryption keys, signing secrets), which a model pointed at a
# server of the admin's choosing would otherwise send there. The models file, written by operators, may name any.
_KEY_VARIABLE = re.compile(r"^(?!PARLEY_)[A-Z][A-Z0-9_]*_(KEY|TOKEN)$")


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One model as administrators see it: its resolved entry, whether it is served, where it comes from."""

    config: ModelConfig
    enabled: bool
    source: Literal["file", "admin"]
    edited: bool
    # Its API key is the one an administrator stored (not an environment variable's).
    key_stored: bool = False


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every model (`entries`, the file's first, then those added, oldest first) and what chats use (`served`:
    the enabled ones, their fallbacks to disabled models left out)."""

    entries: tuple[CatalogueEntry, ...]
    served: ModelCatalog

    def entry(self, name: str) -> CatalogueEntry | None:
        return next((entry for entry in self.entries if entry.config.name == name), None)


def resolve(
    seed: ModelCatalog,
    rows: Sequence[ModelCatalogueEntry],
    *,
    environ: Mapping[str, str],
    keys: Mapping[str, str] | None = None,
) -> Catalogue:
    """The catalogue the seed and the stored entries make, with `keys` (model name → its stored API key, opened)
    over the keys `api_key_env` names. An entry that no longer makes a valid model (the file it changed lost its
    model, say) is left out and logged rather than stopping the server."""
    keys = keys or {}
    stored = {row.name: row for row in rows}
    entries: list[CatalogueEntry] = []
    for config in seed.models:
        row = stored.pop(config.name, None)
        if row is None:
            entries.append(CatalogueEntry(config, True, "file", False))
            continue
        key = keys.get(config.name)
        built = _build_or_log(config.name, _merged(config, row.config), environ, key)
        entries.append(
            CatalogueEntry(
                built or config, row.enabled, "file", built is not None, built is not None and key is not None
            )
        )
    for row in rows:
        if row.name not in stored:
            continue
        key = keys.get(row.name)
        built = _build_or_log(row.name, row.config, environ, key)
        if built is not None:
            entries.append(CatalogueEntry(built, row.enabled, "admin", False, key is not None))
    return Catalogue(tuple(entries), _served(seed, entries))


def _served(seed: ModelCatalog, entries: Sequence[CatalogueEntry]) -> ModelCatalog:
    enabled = [entry.config for entry in entries if entry.enabled]
    if not enabled:
        _logger.error("model_catalogue_empty", detail="every model is disabled: serving the models file")
        return seed
    names = {config.name for config in enabled}
    models = tuple(
        config
        if all(name in names for name in config.fallbacks)
        else config.model_copy(update={"fallbacks": tuple(name for name in config.fallbacks if name in names)})
        for config in enabled
    )
    return ModelCatalog(models=models, default=seed.default if seed.default in names else None)


def _merged(seed: ModelConfig | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    base = seed.model_dump(mode="json") if seed is not None else {}
    return {**base, **fields}


def _build(fields: Mapping[str, Any], environ: Mapping[str, str], key: str | None = None) -> ModelConfig:
    """The model `fields` describe, its API key the stored `key` when there is one, else `api_key_env`'s."""
    values = dict(fields)
    values.pop("api_key", None)
    if key is not None:
        values["api_key"] = key
    elif variable := values.get("api_key_env"):
        values["api_key"] = environ.get(str(variable))
    return ModelConfig.model_validate(values)


def _build_or_log(
    name: str, fields: Mapping[str, Any], environ: Mapping[str, str], key: str | None = None
) -> ModelConfig | None:
    try:
        return _build(fields, environ, key)
    except ValidationError as exc:
        _logger.error("model_catalogue_entry_invalid", model=name, errors=exc.error_count())
        return None


async def load(
    session: AsyncSession, seed: ModelCatalog, *, environ: Mapping[str, str], crypto: Crypto | None
) -> Catalogue:
    rows = await repository.all_entries(session)
    return resolve(seed, rows, environ=environ, keys=await _opened_keys(crypto, rows))


def _key_context(name: str) -> str:
    return context_of("model_catalogue_entries", "api_key", name)


async def _opened_keys(crypto: Crypto | None, rows: Sequence[ModelCatalogueEntry]) -> dict[str, str]:
    """The stored keys, opened. One that cannot be opened (its data key unavailable, the value altered) leaves
    its model without a key, logged, rather than the whole catalogue unserved."""
    keys: dict[str, str] = {}
    for row in rows:
        if row.api_key_sealed is None:
            continue
        if crypto is None:
            _logger.error("model_catalogue_key_unreadable", model=row.name, error="no keyring")
            continue
        try:
            keys[row.name] = await crypto.open_text(None, row.api_key_sealed, context=_key_context(row.name))
        except CryptoError as exc:
            _logger.error("model_catalogue_key_unreadable", model=row.name, error=type(exc).__name__)
    return keys


async def _sealed_key(crypto: Crypto | None, name: str, key: str) -> bytes:
    if crypto is None:
        raise Unprocessable("api_key: storing a key needs encryption at rest, which is off here", param="api_key")
    return await crypto.seal_text(None, key, context=_key_context(name))


def _key_hint(entry: CatalogueEntry) -> str | None:
    """The last 4 characters of a stored key long enough that they reveal little (which key it is, at a glance)."""
    key = entry.config.api_key.get_secret_value() if entry.key_stored and entry.config.api_key else ""
    return key[-4:] if len(key) >= 16 else None


def to_schema(entry: CatalogueEntry) -> CatalogueModel:
    config = entry.config
    return CatalogueModel(
        name=config.name,
        label=config.label,
        provider=config.provider,
        model=config.model,
        base_url=config.base_url,
        api_key_env=config.api_key_env,
        api_key_set=bool(config.api_key and config.api_key.get_secret_value()),
        api_key_stored=entry.key_stored,
        api_key_last4=_key_hint(entry),
        api_version=config.api_version,
        region=config.region,
        endpoint_url=config.endpoint_url,
        context_window=config.context_window,
        max_output_tokens=config.max_output_tokens,
        price_per_1k_input=config.price_per_1k_input,
        price_per_1k_output=config.price_per_1k_output,
        fallbacks=list(config.fallbacks),
        timeout_seconds=config.timeout_seconds,
        max_retries=config.max_retries,
        capabilities=config.capability_flags,
        trusted=config.is_trusted,
        pii_policy=config.pii_policy,
        enabled=entry.enabled,
        source=entry.source,
        edited=entry.edited,
    )


async def create(
    session: AsyncSession,
    *,
    seed: ModelCatalog,
    environ: Mapping[str, str],
    crypto: Crypto | None,
    body: ModelCreate,
    admin_id: uuid.UUID,
    ip: str | None,
) -> CatalogueEntry:
    """Add a model. Its name must be new (409 otherwise), its fallbacks enabled models, without a cycle; its API
    key, when sent, is stored sealed."""
    await repository.lock_for_write(session)
    catalogue = await load(session, seed, environ=environ, crypto=crypto)
    name = body.name
    if name == AUTO_MODEL:
        raise Unprocessable(f"name: '{AUTO_MODEL}' is reserved for automatic routing", param="name")
    if catalogue.entry(name) is not None or await repository.get(session, name) is not None:
        raise Conflict(f"a model named '{name}' already exists; edit it with PATCH", model=name)
    fields = body.model_dump(mode="json", exclude={"enabled", "api_key"}, exclude_defaults=True)
    fields.update(name=name, provider=body.provider)
    _check_key_variable(fields.get("api_key_env"), seed)
    key = body.api_key.get_secret_value() if body.api_key is not None else None
    config = _validated(fields, environ, key)
    entry = CatalogueEntry(config, body.enabled, "admin", False, key is not None)
    _check_fallbacks(catalogue, entry)
    sealed = await _sealed_key(crypto, name, key) if key is not None else None
    await repository.insert(session, name, fields, enabled=body.enabled, api_key_sealed=sealed)
    record(
        session,
        AuditAction.MODEL_CREATE,
        actor_id=admin_id,
        target_type="model",
        target_id=name,
        ip=ip,
        details={"to": {**fields, "enabled": body.enabled, "api_key_stored": key is not None}},
    )
    _logger.info("model_catalogue_changed", model=name, change="create")
    return entry


async def update(
    session: AsyncSession,
    *,
    seed: ModelCatalog,
    environ: Mapping[str, str],
    crypto: Crypto | None,
    name: str,
    body: ModelUpdate,
    admin_id: uuid.UUID,
    ip: str | None,
) -> CatalogueEntry:
    """Change some fields of a model (of the file or added), or disable or enable it; `api_key` stores a new key
    (sealed) or, null, clears the stored one. The default model and the last enabled one cannot be disabled
    (409): chats would have nothing to fall back on."""
    await repository.lock_for_write(session)
    catalogue = await load(session, seed, environ=environ, crypto=crypto)
    current = catalogue.entry(name)
    row = await repository.get(session, name)
    if current is None or (row is None and current.source == "admin"):
        raise NotFound(f"there is no model named '{name}' (see GET /api/v1/admin/models)", model=name)
    changes = body.model_dump(mode="json", exclude_unset=True, exclude={"api_key"})
    enabled = changes.pop("enabled", current.enabled)
    if enabled is None:
        raise Unprocessable("enabled: must be true or false", param="enabled")
    key_changed = "api_key" in body.model_fields_set
    if not changes and enabled == current.enabled and not key_changed:
        return current  # nothing to store, nothing to audit
    stored = dict(row.config) if row is not None else {}
    stored.update(changes)
    _check_key_variable(changes.get("api_key_env"), seed)
    was_stored = row is not None and row.api_key_sealed is not None
    if key_changed:
        key = body.api_key.get_secret_value() if body.api_key is not None else None
        sealed = await _sealed_key(crypto, name, key) if key is not None else None
    else:
        opened = current.config.api_key if current.key_stored else None
        key = opened.get_secret_value() if opened is not None else None
        sealed = row.api_key_sealed if row is not None else None
    config = _validated(_merged(seed.get(name) if current.source == "file" else None, stored), environ, key)
    entry = CatalogueEntry(config, enabled, current.source, current.source == "file", key is not None)
    if "fallbacks" in changes:
        _check_fallbacks(catalogue, entry)
    if current.enabled and not enabled:
        _check_can_disable(catalogue, name)
    if row is None:
        await repository.insert(session, name, stored, enabled=enabled, api_key_sealed=sealed)
    else:
        await repository.replace(session, name, stored, enabled=enabled, api_key_sealed=sealed)
    # The key itself never reaches the audit log: only that it changed, and whether one is stored.
    record(
        session,
        AuditAction.MODEL_UPDATE,
        actor_id=admin_id,
        target_type="model",
        target_id=name,
        ip=ip,
        details={
            "from": {
                **(row.config if row is not None else {}),
                "enabled": current.enabled,
                "api_key_stored": was_stored,
            },
            "to": {**stored, "enabled": enabled, "api_key_stored": sealed is not None},
            "changed": sorted(
                [
                    *changes,
                    *(["enabled"] if enabled != current.enabled else []),
                    *(["api_key"] if key_changed else []),
                ]
            ),
        },
    )
    _logger.info("model_catalogue_changed", model=name, change="update")
    return entry


async def delete(
    session: AsyncSession,
    *,
    seed: ModelCatalog,
    environ: Mapping[str, str],
    crypto: Crypto | None,
    name: str,
    plan_seeds: Mapping[str, Plan],
    admin_id: uuid.UUID,
    ip: str | None,
) -> None:
    """Delete an administrator's entry. A model they added is gone (409 naming the plans that still list it); a
    model of the models file returns to the file's entry (it cannot be deleted: disable it instead)."""
    await repository.lock_for_write(session)
    catalogue = await load(session, seed, environ=environ, crypto=crypto)
    current = catalogue.entry(name)
    row = await repository.get(session, name)
    if row is None:
        if current is not None:
            raise Conflict(
                f"the model '{name}' comes from the models file and has no changes to undo: disable it instead",
                model=name,
            )
        raise NotFound(f"there is no model named '{name}' (see GET /api/v1/admin/models)", model=name)
    if seed.get(name) is None:
        plans = [
            named.name
            for named in await plans_service.list_plans(session, seeds=plan_seeds)
            if named.plan.models and name in named.plan.models
        ]
        if plans:
            raise Conflict(
                f"the plan(s) {', '.join(plans)} list the model '{name}': remove it from them first",
                model=name,
                plans=plans,
            )
    await repository.remove(session, name)
    record(
        session,
        AuditAction.MODEL_DELETE,
        actor_id=admin_id,
        target_type="model",
        target_id=name,
        ip=ip,
        details={
            "from": {**row.config, "enabled": row.enabled, "api_key_stored": row.api_key_sealed is not None},
            "reverted_to_file": seed.get(name) is not None,
        },
    )
    _logger.info("model_catalogue_changed", model=name, change="delete")


def _validated(fields: Mapping[str, Any], environ: Mapping[str, str], key: str | None = None) -> ModelConfig:
    try:
        return _build(fields, environ, key)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}" for error in exc.errors()
        )
        raise Unprocessable(f"the model entry is not valid: {problems}") from None


def _check_key_variable(variable: str | None, seed: ModelCatalog) -> None:
    if variable is None or _KEY_VARIABLE.match(variable):
        return
    if any(config.api_key_env == variable for config in seed.models):
        return
    raise Unprocessable(
        f"api_key_env: '{variable}' is not a provider key's variable: name one ending in _KEY or _TOKEN that is "
        "not one of Parley's own settings (PARLEY_…), or one the models file already uses",
        param="api_key_env",
    )


def _check_fallbacks(catalogue: Catalogue, changed: CatalogueEntry) -> None:
    """The changed model's fallbacks name other enabled models, and following fallbacks never leads back."""
    name = changed.config.name
    for fallback in changed.config.fallbacks:
        target = catalogue.entry(fallback)
        if fallback == name:
            raise Unprocessable(f"fallbacks: the model '{name}' cannot fall back to itself", param="fallbacks")
        if target is None:
            raise Unprocessable(f"fallbacks: there is no model named '{fallback}'", param="fallbacks")
        if not target.enabled:
            raise Unprocessable(f"fallbacks: the model '{fallback}' is disabled", param="fallbacks")
    graph = {entry.config.name: entry.config.fallbacks for entry in catalogue.entries if entry.enabled}
    graph[name] = changed.config.fallbacks
    if cycle := _cycle_through(name, graph):
        raise Unprocessable(f"fallbacks: they would loop: {' → '.join(cycle)}", param="fallbacks")


def _cycle_through(start: str, graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A fallback path from `start` back to itself, or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for successor in graph.get(node, ()):
            if successor == start:
                return [*path, start]
            if successor not in seen:
                seen.add(successor)
                stack.append((successor, [*path, successor]))
    return None


def _check_can_disable(catalogue: Catalogue, name: str) -> None:
    if catalogue.served.default_name == name:
        raise Conflict(f"the model '{name}' is the default model: it cannot be disabled", model=name)
    if not any(entry.enabled for entry in catalogue.entries if entry.config.name != name):
        raise Conflict(f"the model '{name}' is the last enabled model: it cannot be disabled", model=name)
