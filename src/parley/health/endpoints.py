from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from parley.db import Database
from parley.errors import problem_response, problem_responses
from parley.migrations.runner import is_current

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers and its schema is current",
    responses=problem_responses(503),
)
async def readyz(request: Request) -> Any:
    database: Database = request.app.state.database
    try:
        await database.ping()
        current = await is_current(database.engine)
    except Exception as exc:  # any failure to reach the database means "not ready", never a 500
        return problem_response(503, f"database unreachable: {type(exc).__name__}", request=request)
    if not current:
        return problem_response(503, "database schema is not at the newest migration", request=request)
    return JSONResponse({"status": "ready", "database": "ok", "migrations": "current"})
