"""Parley's error hierarchy and its one translation into RFC 9457 problem+json.

Domain code raises a `ParleyError` subclass; handlers registered by `install_error_handlers` turn it (and
validation errors, unknown routes, and anything unexpected) into `application/problem+json`. No stack trace
ever reaches a client.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley.metrics.instruments import ERRORS, SECURITY_EVENTS

PROBLEM_MEDIA_TYPE = "application/problem+json"
_logger = structlog.get_logger("parley.errors")


class ParleyError(Exception):
    """A failure the client can act on; `status` is its HTTP status code."""

    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        persist_changes: bool = False,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        # True: the unit of work still commits (e.g. the refusal revoked a token family or wrote an audit row).
        self.persist_changes = persist_changes
        self.extra = extra


class BadRequest(ParleyError):
    status, code = 400, "bad_request"


class Unauthorized(ParleyError):
    status, code = 401, "unauthorized"

    def __init__(self, message: str = "Authentication required", *, persist_changes: bool = False) -> None:
        super().__init__(
            message, headers={"WWW-Authenticate": 'Bearer realm="parley"'}, persist_changes=persist_changes
        )


class Forbidden(ParleyError):
    status, code = 403, "forbidden"


class NotFound(ParleyError):
    status, code = 404, "not_found"


class Conflict(ParleyError):
    status, code = 409, "conflict"


class PayloadTooLarge(ParleyError):
    status, code = 413, "payload_too_large"


class Unprocessable(ParleyError):
    status, code = 422, "validation_error"


class TooManyRequests(ParleyError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, *, retry_after_seconds: int, persist_changes: bool = False) -> None:
        super().__init__(
            message,
            headers={"Retry-After": str(max(1, retry_after_seconds))},
            persist_changes=persist_changes,
            retry_after=max(1, retry_after_seconds),
        )


class RateLimited(ParleyError):
    """A rate limit (`policy.rates`) refused the request: which limit, its size, and when it frees up. The
    `headers` are the decision's (`Retry-After`, `RateLimit-Policy`, `RateLimit`)."""

    status, code = 429, "rate_limited"
    # Under /v1 (`openai_api.errors`): OpenAI's code for a rate limit, or for a used-up quota.
    limit_type = "rate_limit"

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        quota: int | float,
        window_seconds: int,
        resets_at: datetime,
        headers: dict[str, str],
    ) -> None:
        retry_after = max(1, math.ceil((resets_at - datetime.now(UTC)).total_seconds()))
        super().__init__(
            message,
            headers={"Retry-After": str(retry_after), **headers},
            limit=limit,
            limit_type=self.limit_type,
            quota=quota,
            window_seconds=window_seconds,
            retry_after=retry_after,
            resets_at=resets_at.isoformat(timespec="seconds"),
        )


class QuotaExceeded(RateLimited):
    """A quota (tokens, messages, spend within a period) is used up until `resets_at`."""

    code = "quota_exceeded"
    limit_type = "quota"


class ServiceUnavailable(ParleyError):
    status, code = 503, "service_unavailable"


def problem_response(
    status: int,
    detail: str,
    *,
    request: Request | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """One problem+json body: type, title, status, detail, instance, plus extension members. Paths of a
    surface with its own error format (the OpenAI-compatible `/v1`) get that format instead. Every one is
    counted in parley_errors_total by its code, whatever its format."""
    code = code or _default_code(status)
    ERRORS.labels(code=code).inc()
    if status == 403:
        SECURITY_EVENTS.labels(kind="forbidden").inc()
    if request is not None:
        for prefix, render in getattr(request.app.state, "error_surfaces", {}).items():
            if request.url.path.startswith(prefix):
                return render(request, status, detail, headers or {}, extra)  # type: ignore[no-any-return]
    body: dict[str, Any] = {
        "type": f"https://parley.dev/problems/{code}",
        "title": _title(status),
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
        request_id = request.scope.get("state", {}).get("request_id")
        if request_id:
            body["request_id"] = request_id
    body.update(extra)
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _default_code(status: int) -> str:
    return _title(status).lower().replace(" ", "_").replace("-", "_")


async def _parley_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ParleyError)
    return problem_response(exc.status, exc.message, request=request, code=exc.code, headers=exc.headers, **exc.extra)


# How many validation errors a 422 lists when the app's settings do not say (`HttpSettings`).
DEFAULT_MAX_VALIDATION_ERRORS = 20


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # A body can make thousands of errors (one per unknown key of a large object): only the first few are
    # rendered, so the cost and size of the answer stay bounded whatever was sent; `error_count` tells the rest.
    settings = getattr(request.app.state, "settings", None)
    limit = settings.http.max_validation_errors if settings is not None else DEFAULT_MAX_VALIDATION_ERRORS
    all_errors = exc.errors()
    errors: list[dict[str, Any]] = [
        {
            "loc": [part if isinstance(part, int) else str(part)[:200] for part in error.get("loc", ())],
            "msg": str(error.get("msg", ""))[:500],
            "type": str(error.get("type", "")),
        }
        for error in itertools.islice(all_errors, limit)
    ]
    first = errors[0] if errors else None
    where = ".".join(str(part) for part in first["loc"] if part != "body") if first else ""
    detail = f"{where}: {first['msg']}" if first and where else (first["msg"] if first else "Invalid request")
    return problem_response(
        422, detail, request=request, code="validation_error", errors=errors, error_count=len(all_errors)
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _title(exc.status_code)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names only the methods of the first route matching the path; RFC 9110 wants all of them.
        headers["Allow"] = ", ".join(allowed_methods(request))
    # An HTTPException raised by Parley's own middleware may carry a code (kit.request_guard.BodyTooLarge).
    return problem_response(exc.status_code, detail, request=request, code=getattr(exc, "code", None), headers=headers)


def allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.methods and route.path and compile_path(route.path)[0].match(request.url.path):
            methods.update(route.methods)
    return sorted(methods)


def _is_bad_value(exc: DBAPIError) -> bool:
    """PostgreSQL refused a value itself (SQLSTATE class 22, "data exception": a character it cannot hold, a
    number or date out of range). asyncpg's errors reach SQLAlchemy as a generic DBAPIError, not DataError."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(exc, DataError) or (isinstance(sqlstate, str) and sqlstate.startswith("22"))


# How long a client is asked to wait before retrying when the database cannot take its request.
DATABASE_BUSY_RETRY_SECONDS = 2


def database_busy(exc: BaseException) -> bool:
    """The database cannot take this request now, through no fault of the request or of Parley's code: no pool
    connection came free in time, the server is at max_connections or out of resources (SQLSTATE class 53), is
    starting or shutting down (57P01-57P03), or the connection failed (class 08, or refused). A 503 the client
    may retry, not a 500 that pages someone for a bug."""
    if isinstance(exc, PoolTimeout):
        return True
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if isinstance(sqlstate, str):
        return sqlstate.startswith(("53", "08")) or sqlstate in ("57P01", "57P02", "57P03")
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(cause, ConnectionRefusedError)


def _database_busy_response(request: Request, exc: BaseException) -> JSONResponse:
    _logger.warning("database_busy", error_type=type(exc).__name__, path=request.url.path)
    return problem_response(
        503,
        "The database is busy or unreachable; try again in a moment.",
        request=request,
        code="database_unavailable",
        headers={"Retry-After": str(DATABASE_BUSY_RETRY_SECONDS)},
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if database_busy(exc):
        return _database_busy_response(request, exc)
    if not _is_bad_value(exc):
        return _internal_error(request, exc)
    # A value the validation let through: the input was at fault, so it is a 422 and not a 500.
    return problem_response(
        422,
        "a value in the request cannot be stored or compared (invalid characters, or out of range)",
        request=request,
        code="validation_error",
    )


def _internal_error(request: Request, exc: BaseException) -> JSONResponse:
    # Logged here and only here (UnexpectedErrorMiddleware does not re-raise, so the server does not log it
    # again); SQL parameters never appear in it: the engine hides them (db.create_engine).
    _logger.error("unhandled_error", error_type=type(exc).__name__, exc_info=exc)
    return problem_response(
        500, "An unexpected error occurred. It has been logged.", request=request, code="internal_error"
    )


class UnexpectedErrorMiddleware:
    """Answers an exception no handler took with a 500 problem (pure ASGI, inside the request-id middleware).

    Starlette's own last-resort handler answers and then re-raises, for the server to log: uvicorn logged the
    traceback a second time and, because the app raised, closed the connection without `Connection: close`,
    so a client's next request on its pooled connection was reset. Here the exception ends with the answer;
    the connection stays usable. An exception after the response started cannot be answered: it is logged
    and the server, seeing the response unfinished, closes the connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as exc:  # the last resort: whatever it is, the client gets a 500 problem
            request = Request(scope)
            if started:
                _logger.error("unhandled_error_after_response_start", error_type=type(exc).__name__, exc_info=exc)
                return
            if isinstance(exc, DBAPIError):
                response = await _database_error(request, exc)
            elif database_busy(exc):
                response = _database_busy_response(request, exc)
            else:
                response = _internal_error(request, exc)
            await response(scope, receive, send)


ErrorRenderer = Callable[[Request, int, str, dict[str, str], dict[str, Any]], JSONResponse]


def install_error_handlers(app: FastAPI, *, surfaces: dict[str, ErrorRenderer] | None = None) -> None:
    """Register the handlers; `surfaces` maps a path prefix to a renderer for APIs with their own error shape."""
    app.state.error_surfaces = surfaces or {}
    app.add_exception_handler(ParleyError, _parley_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    # Not an Exception handler: Starlette re-raises after those (see UnexpectedErrorMiddleware).
    app.add_middleware(UnexpectedErrorMiddleware)


_PROBLEM_SCHEMA: dict[str, Any] = {
    "content": {
        PROBLEM_MEDIA_TYPE: {
            "schema": {
                "type": "object",
                "required": ["type", "title", "status", "detail"],
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "instance": {"type": "string"},
                    "request_id": {"type": "string"},
                },
            }
        }
    }
}

_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing, invalid or expired credentials",
    403: "Authenticated but not allowed (role, scope or suspended account)",
    404: "Not found (or not yours)",
    409: "Conflict with existing data",
    413: "Payload too large",
    422: "Invalid input",
    429: "Too many requests; see Retry-After",
    503: "A dependency is unavailable",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the problem+json errors of a route."""
    return {
        status: {"description": _DESCRIPTIONS.get(status, _title(status)), **_PROBLEM_SCHEMA} for status in statuses
    }
