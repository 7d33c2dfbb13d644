"""Which model names limits may name: the models of the catalogue (`PARLEY_MODELS`). A name outside it would
never match a model, so an override naming one is a typo an admin should hear about, not a silent no-op."""

from __future__ import annotations

from collections.abc import Collection

from parley.policy.plans import Plan


def unknown_models(limits: Plan, catalogue: Collection[str]) -> list[str]:
    """The names in `limits.models` that the catalogue lacks, in the order given (empty: all known, or no list)."""
    return [name for name in limits.models or () if name not in catalogue]
