"""Plans as the admin API shows them."""

from __future__ import annotations

from pydantic import BaseModel

from parley.policy.plans import Plan


class PlanRead(BaseModel):
    """One plan: its name (what users' `subscription_tier` holds) and its limits (null: unlimited)."""

    name: str
    limits: Plan
