"""Plans: what a subscription plan lets its users do, and the decisions taken from it.

A plan is plain data (`Plan`); the built-in ones protect a fresh install without any configuration, the plan file
(`PARLEY_PLANS`) adds or redefines plans, and the database holds the plans admins edit (`parley.plans`). This
module decides (may this plan use that model? how large may an upload be?) and returns the decision; the chat,
/v1 and file services enforce it. It never reads a table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from parley.db import StartupError
from parley.privacy.settings import PiiMode

FREE_PLAN = "free"
# Plan names are what users' `subscription_tier` holds (32 characters) and appear in URLs.
PLAN_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
MIB = 1024 * 1024
# README, "Prompt injection": what happens to a user's message the detector flags; unset on a plan: `flag`.
InjectionMode = Literal["allow", "flag", "block"]
INJECTION_MODES: tuple[InjectionMode, ...] = ("allow", "flag", "block")  # least strict first
DEFAULT_INJECTION_POLICY: InjectionMode = "flag"


class Plan(BaseModel):
    """The limits of one plan. `None` means unlimited (for `models`: every configured model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_minute: int | None = Field(default=None, ge=0, description="Chat requests per minute per user")
    concurrent_answers: int | None = Field(default=None, ge=0, description="Answers being written at once per user")
    tokens_per_day: int | None = Field(default=None, ge=0)
    tokens_per_month: int | None = Field(default=None, ge=0)
    usd_budget_per_month: float | None = Field(default=None, ge=0)
    models: list[str] | None = Field(default=None, description="Model names this plan may use; null: all of them")
    max_upload_mib: int | None = Field(default=None, ge=0, description="Largest upload in MiB")
    api_key_requests_per_minute: int | None = Field(default=None, ge=0, description="Requests per minute per API key")
    # Retention (README, "Your data"): the job worker deletes what is older; null: kept until the user deletes it.
    conversation_retention_days: int | None = Field(
        default=None, ge=1, description="Conversations untouched for this many days are deleted"
    )
    file_retention_days: int | None = Field(
        default=None, ge=1, description="Uploads older than this many days are deleted (not knowledge-base documents)"
    )
    # README, "PII": replaces the models' own policies for this plan's users; a group's wins over the plan's.
    pii_policy: PiiMode | None = Field(
        default=None,
        description="Personal data in prompts: off, pseudonymise, mask or block; null: each model's own policy",
    )
    # README, "Prompt injection": like the PII policy, a group's replaces the plan's (the strictest group's).
    injection_policy: InjectionMode | None = Field(
        default=None,
        description="Prompt injections in users' messages: allow, flag (answer and record) or block; null: flag",
    )


# Finite for `free`, so an install nobody configured cannot be spent without limit.
BUILT_IN_PLANS: Mapping[str, Plan] = {
    FREE_PLAN: Plan(
        requests_per_minute=20,
        concurrent_answers=2,
        tokens_per_day=200_000,
        tokens_per_month=2_000_000,
        usd_budget_per_month=5.0,
        max_upload_mib=10,
        api_key_requests_per_minute=10,
    ),
    "pro": Plan(
        requests_per_minute=60,
        concurrent_answers=4,
        tokens_per_day=2_000_000,
        tokens_per_month=30_000_000,
        usd_budget_per_month=50.0,
        max_upload_mib=50,
        api_key_requests_per_minute=30,
    ),
    "enterprise": Plan(
        requests_per_minute=300,
        concurrent_answers=10,
        max_upload_mib=200,
        api_key_requests_per_minute=120,
    ),
}


def load_plan_file(path: Path | None) -> dict[str, Plan]:
    """The plans seeded at start-up: the built-in ones, redefined or extended by the plan file's `plans:` mapping.
    Anything wrong in the file (unreadable, bad YAML, an unknown key, a negative number) is a `StartupError`
    whose one line names the file and the key."""
    plans = dict(BUILT_IN_PLANS)
    if path is None:
        return plans
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise StartupError(f"cannot read the plan file {path} (PARLEY_PLANS): {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise StartupError(f"the plan file {path} is not valid YAML{line}") from exc
    if not isinstance(raw, dict) or set(raw) != {"plans"} or not isinstance(raw["plans"], dict):
        raise StartupError(f"{path}: expected one top-level 'plans:' mapping of plan names to their limits")
    for name, limits in raw["plans"].items():
        plans[_plan_name(path, name)] = _plan(path, str(name), limits)
    return plans


def _plan_name(path: Path, name: object) -> str:
    if not isinstance(name, str) or re.fullmatch(PLAN_NAME_PATTERN, name) is None:
        raise StartupError(
            f"{path}: plans.{name}: a plan name is 1-32 lower-case letters, digits, '-' or '_', starting with a letter"
            " or digit"
        )
    return name


def _plan(path: Path, name: str, limits: Any) -> Plan:
    if limits is None:
        limits = {}
    try:
        return Plan.model_validate(limits)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in ("plans", name, *error["loc"]))
        raise StartupError(f"{path}: {key}: {error['msg']}") from exc


@dataclass(frozen=True, slots=True)
class ModelAccess:
    """Whether a plan may use a model; `reason` says why not, for the 403 the caller raises."""

    allowed: bool
    reason: str = ""


def model_access(plan_name: str, plan: Plan, model: str) -> ModelAccess:
    """May users of `plan` use `model` (a configured model's name)?"""
    if plan.models is None or model in plan.models:
        return ModelAccess(True)
    return ModelAccess(False, f"the {plan_name} plan does not include the model '{model}'")


def usable_models(plan: Plan, models: Iterable[str]) -> list[str]:
    """The names among `models` that users of `plan` may use, in the given order (for model lists)."""
    return [name for name in models if plan.models is None or name in plan.models]


def injection_policy(plan: Plan | None) -> InjectionMode:
    """What happens to a flagged message of a user on `plan` (effective: groups and overrides applied)."""
    if plan is None or plan.injection_policy is None:
        return DEFAULT_INJECTION_POLICY
    return plan.injection_policy


def group_injection_policy(
    plan_value: InjectionMode | None, group_values: Iterable[InjectionMode | None]
) -> InjectionMode | None:
    """A plan's injection policy as the user's groups leave it: the strictest a group sets, or the plan's."""
    chosen = [value for value in group_values if value is not None]
    return max(chosen, key=INJECTION_MODES.index) if chosen else plan_value


def max_upload_bytes(plan: Plan) -> int | None:
    """The largest upload a plan's users may send, in bytes; None: no limit of the plan."""
    return None if plan.max_upload_mib is None else plan.max_upload_mib * MIB
