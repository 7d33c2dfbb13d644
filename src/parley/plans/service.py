"""Plans: seeding from the plan file, the admins' edits, and which plan a user is on.

The plan file (and the built-in plans) seed the names missing from the database at start-up; from then on the
database is the truth and admins' edits win. A name the file defines but the database lacks (deleted since the
last start, or a database not seeded yet) counts with the file's limits, so every user always has a plan.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from parley.audit.service import AuditAction, record
from parley.auth.principal import Principal
from parley.errors import Conflict, Forbidden, NotFound, Unprocessable
from parley.groups import service as group_service
from parley.metrics import instruments as metrics
from parley.models import User
from parley.plans import repository
from parley.policy.catalogue import unknown_models
from parley.policy.plans import FREE_PLAN, Plan, model_access
from parley.policy.quotas import GroupBudget, effective_plan
from parley.policy.rates import RateLimit, RateLimiter


@dataclass(frozen=True, slots=True)
class NamedPlan:
    """A plan with the name users' `subscription_tier` gives it (refusals name the plan). For a user
    (`plan_for_user`), `plan` holds the limits they actually have (their overrides and groups' applied) and
    `group_budgets` the shared budgets of their groups."""

    name: str
    plan: Plan
    group_budgets: tuple[GroupBudget, ...] = ()


async def seed(session: AsyncSession, seeds: Mapping[str, Plan]) -> list[str]:
    """Store the seeded plans the database does not have yet (never overwriting an admin's edit); their names."""
    return await repository.insert_missing(
        session, {name: plan.model_dump(mode="json") for name, plan in seeds.items()}
    )


async def list_plans(session: AsyncSession, *, seeds: Mapping[str, Plan]) -> list[NamedPlan]:
    """Every plan a user can be on, by name: the stored ones and the seeded ones not stored."""
    stored = {row.name: Plan.model_validate(row.limits) for row in await repository.all_by_name(session)}
    merged = {**seeds, **stored}
    return [NamedPlan(name, merged[name]) for name in sorted(merged)]


async def find(session: AsyncSession, name: str, *, seeds: Mapping[str, Plan]) -> NamedPlan | None:
    row = await repository.get(session, name)
    if row is not None:
        return NamedPlan(name, Plan.model_validate(row.limits))
    seeded = seeds.get(name)
    return NamedPlan(name, seeded) if seeded is not None else None


async def plan_for(session: AsyncSession, subscription_tier: str, *, seeds: Mapping[str, Plan]) -> NamedPlan:
    """The plan a user with this `subscription_tier` is on. A tier that names no plan (set before plans were
    checked) gets the free plan's limits: the safe side."""
    found = await find(session, subscription_tier, seeds=seeds)
    if found is not None:
        return found
    free = await find(session, FREE_PLAN, seeds=seeds)
    assert free is not None  # free is always seeded (policy.plans.load_plan_file)
    return NamedPlan(subscription_tier, free.plan)


async def plan_for_user(session: AsyncSession, user: User, *, seeds: Mapping[str, Plan]) -> NamedPlan:
    """The limits `user` has: their plan's, raised by their groups' limits (the most generous wins) and
    replaced by their own overrides (`policy.quotas.effective_plan`), with their groups' shared budgets."""
    # One round trip for both (this runs on every chat request): the plan's stored limits and the groups'.
    stored, group_limits = await repository.limits_with(
        session, user.subscription_tier, group_service.member_limits(user.id)
    )
    if stored is not None:
        named = NamedPlan(user.subscription_tier, Plan.model_validate(stored))
    else:
        named = await plan_for(session, user.subscription_tier, seeds=seeds)
    groups = group_service.decode_member_limits(group_limits)
    plan = effective_plan(named.plan, user=user.limits, groups=[limits for _, _, limits in groups])
    budgets = tuple(
        GroupBudget(group_id, name, Decimal(str(limits["shared_usd_budget_per_month"])))
        for group_id, name, limits in groups
        if limits.get("shared_usd_budget_per_month") is not None
    )
    return NamedPlan(named.name, plan, budgets)


def require_model_access(plan: NamedPlan, model: str) -> None:
    """Refuse (403, naming the plan) a model the user's plan does not include: called before anything is saved
    or any model is called."""
    access = model_access(plan.name, plan.plan, model)
    if not access.allowed:
        metrics.limit_refused("model")
        raise Forbidden(access.reason, plan=plan.name, model=model)


async def admit_request(limiter: RateLimiter, principal: Principal, plan: NamedPlan) -> dict[str, str]:
    """Count one chat request against the plan's per-minute limits: the user's (`user-minute`, whatever the
    credential) and, for a call with an API key, the key's (`key-minute`), both at once (on Redis, side by side
    rather than one round trip after the other). Raises 429 (`RateLimited`, naming the limit and when it frees
    up) when one is used up; else the `RateLimit` headers of the tighter one."""
    checks: list[tuple[RateLimit, str]] = []
    if plan.plan.requests_per_minute is not None:
        limit = RateLimit("user-minute", quota=plan.plan.requests_per_minute, window_seconds=60)
        checks.append((limit, str(principal.user_id)))
    if principal.api_key_id is not None and plan.plan.api_key_requests_per_minute is not None:
        limit = RateLimit("key-minute", quota=plan.plan.api_key_requests_per_minute, window_seconds=60)
        checks.append((limit, str(principal.api_key_id)))
    if not checks:
        return {}
    decisions = await limiter.hit_all(checks)
    for decision in decisions:
        decision.enforce()
    return min(decisions, key=lambda decision: decision.remaining).headers()


async def check_exists(session: AsyncSession, name: str, *, seeds: Mapping[str, Plan]) -> None:
    """Refuse (422) a subscription tier that names no plan."""
    if await find(session, name, seeds=seeds) is None:
        raise Unprocessable(f"subscription_tier: there is no plan named '{name}' (see GET /api/v1/admin/plans)")


async def put(
    session: AsyncSession,
    *,
    admin_id: uuid.UUID,
    name: str,
    plan: Plan,
    ip: str | None,
    seeds: Mapping[str, Plan],
    catalogue: Collection[str],
) -> tuple[NamedPlan, bool]:
    """Create or replace a plan; True when it is new (neither stored nor seeded before). A model outside the
    catalogue is refused (422): it would never match, so it is a typo."""
    if unknown := unknown_models(plan, catalogue):
        raise Unprocessable(f"models: not in the model catalogue: {', '.join(unknown)}", models=unknown)
    before = await find(session, name, seeds=seeds)
    limits = plan.model_dump(mode="json")
    await repository.upsert(session, name, limits)
    record(
        session,
        AuditAction.PLAN_PUT,
        actor_id=admin_id,
        target_type="plan",
        target_id=name,
        ip=ip,
        details={"from": before.plan.model_dump(mode="json") if before else None, "to": limits},
    )
    return NamedPlan(name, plan), before is None


async def delete(
    session: AsyncSession, *, admin_id: uuid.UUID, name: str, ip: str | None, seeds: Mapping[str, Plan]
) -> None:
    """Delete a stored plan. The free plan stays (it is every user's fallback); a plan users are on stays until
    they are moved. A plan the plan file defines falls back to the file's limits (and is stored again at the next
    start): deleting it undoes the admins' edits."""
    if name == FREE_PLAN:
        raise Conflict("the free plan cannot be deleted: it is every user's fallback; change its limits instead")
    users = await repository.count_users_on(session, name)
    if users:
        raise Conflict(f"{users} user(s) are on the {name} plan: move them to another plan first", users=users)
    before = await find(session, name, seeds=seeds)
    if not await repository.remove(session, name):
        raise NotFound(f"there is no stored plan named '{name}'")
    record(
        session,
        AuditAction.PLAN_DELETE,
        actor_id=admin_id,
        target_type="plan",
        target_id=name,
        ip=ip,
        details={"limits": before.plan.model_dump(mode="json") if before else None},
    )
