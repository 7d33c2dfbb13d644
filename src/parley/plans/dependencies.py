"""The seeded plans as a request dependency: read once at start-up (`create_app`), kept on the app.

Request dependencies are `async def` even when they await nothing: FastAPI runs a plain `def` one in a worker
thread, a thread hop on every request for a lookup of nanoseconds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, Request

from parley.policy.plans import Plan


async def _seeded_plans(request: Request) -> Mapping[str, Plan]:
    plans: Mapping[str, Plan] = request.app.state.plan_seeds
    return plans


# The plans of the plan file and the built-in ones: the fallback for a name the database lacks.
SeededPlans = Annotated[Mapping[str, Plan], Depends(_seeded_plans)]
