"""Liveness and readiness, for load balancers and orchestrators.

`/healthz` is liveness: the process is up (never restart it for a model that is still loading). `/readyz` is
readiness: the database answers with a current schema, no model is still loading, and the replica is not
draining (stopping after a SIGTERM: `chat.drain`). A replica whose bundled
model is still loading gets no traffic yet, so nobody's first answer waits seconds for the load; one whose model
failed to load stays ready (every replica would fail alike, and everything but that model still works), and
says so in `models`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from parley.chat.drain import Drain
from parley.db import Database
from parley.errors import problem_response, problem_responses
from parley.llm.registry import ModelRegistry
from parley.migrations.runner import is_current

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers, its schema is current, and every model has loaded",
    responses=problem_responses(503),
)
async def readyz(request: Request) -> Any:
    database: Database = request.app.state.database
    registry: ModelRegistry = request.app.state.models
    drain: Drain | None = getattr(request.app.state, "drain", None)
    if drain is not None and drain.draining:  # stopping: no new traffic, while running answers finish
        return problem_response(503, "draining: this replica is stopping", request=request, models=registry.states)
    try:
        await database.ping()
        current = await is_current(database.engine)
    except Exception as exc:  # any failure to reach the database means "not ready", never a 500
        return problem_response(
            503, f"database unreachable: {type(exc).__name__}", request=request, models=registry.states
        )
    if not current:
        return problem_response(
            503, "database schema is not at the newest migration", request=request, models=registry.states
        )
    # One snapshot decides and is reported, so the answer never contradicts itself.
    models = registry.states
    if loading := [name for name, state in models.items() if state == "loading"]:
        return problem_response(503, f"still loading model(s): {', '.join(loading)}", request=request, models=models)
    return JSONResponse({"status": "ready", "database": "ok", "migrations": "current", "models": models})
