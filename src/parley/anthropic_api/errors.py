"""Errors on the Anthropic-compatible surface use Anthropic's shape, which its SDKs turn into their own exception
types: `{"type": "error", "error": {"type": "invalid_request_error", "message": "..."}}`.

Statuses are Anthropic's: a malformed request is 400 (422 elsewhere in Parley), a used-up rate limit or quota 429
with `retry-after`, and a failure of the upstream models 529 `overloaded_error` when trying again can help (SDKs
retry it), 400 when the model refused the request as invalid, 500 `api_error` for the rest (Parley's configuration
at fault)."""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from parley.errors import ErrorRenderer
from parley.llm.base import ProviderError
from parley.metrics import instruments as metrics
from parley.openai_api.errors import telling_error

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
OVERLOADED = 529
# Upstream statuses that mean "the request itself was refused" (too long for the context, bad parameters).
_INVALID_UPSTREAM = frozenset({400, 413, 422})
# Segments pydantic adds to an error's location for the member of a union it tried: types, not parameters.
_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none", "bytes"})


def error_type(status: int) -> str:
    if status in _TYPES:
        return _TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def anthropic_error_body(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type(status), "message": message}}


def failure_status(exc: ProviderError) -> int:
    """The status a client gets when no model could answer: what it should do next."""
    if exc.status == 429:
        return 429
    if exc.status in _INVALID_UPSTREAM:
        return 400
    if exc.retryable or exc.retry_after is not None:
        return OVERLOADED
    return 500


def upstream_failure_response(exc: ProviderError) -> JSONResponse:
    """The error answer of a message no model could start; `retry-after` when Parley knows when trying again
    can help (the SDKs wait that long before their retry)."""
    status = failure_status(exc)
    metrics.ERRORS.labels(code="model_unavailable").inc()
    headers = {"retry-after": str(max(1, math.ceil(exc.retry_after)))} if exc.retry_after is not None else None
    return JSONResponse(anthropic_error_body(status, str(exc)), status_code=status, headers=headers)


def _where(location: list[Any] | tuple[Any, ...]) -> str:
    """`messages.0.content` from pydantic's `("body", "messages", 0, "content", "str")`."""
    path: list[str] = []
    for part in location[1:] if location and location[0] == "body" else location:
        if isinstance(part, str) and (part in _TYPE_TAGS or "[" in part):
            continue
        if isinstance(part, str) and not part.isidentifier():
            break
        path.append(str(part))
    return ".".join(path)


def anthropic_error_response(
    request: Request, status: int, message: str, headers: dict[str, str], extra: dict[str, Any]
) -> JSONResponse:
    """The renderer `install_error_handlers` calls for every error under `/v1/messages`."""
    errors = extra.get("errors")
    if status == 422:
        status = 400
        first = telling_error(errors) if isinstance(errors, list) and errors else {}
        if first.get("type") == "json_invalid":
            message = "We could not parse the JSON body of your request: it is not valid JSON."
        elif first:
            where = _where(first.get("loc", ()))
            message = f"{where}: {first.get('msg', 'invalid value')}" if where else str(first.get("msg", message))
    elif status == 404 and message == "Not Found" and not extra:
        message = f"Unknown request URL: {request.method} {request.url.path}"
    return JSONResponse(anthropic_error_body(status, message), status_code=status, headers=headers)


def for_anthropic_clients(otherwise: ErrorRenderer) -> ErrorRenderer:
    """A renderer for a route both kinds of client call (`GET /v1/models`): Anthropic's shape for a request
    carrying `anthropic-version` (Anthropic's SDKs always send it), `otherwise`'s for the rest."""

    def render(
        request: Request, status: int, message: str, headers: dict[str, str], extra: dict[str, Any]
    ) -> JSONResponse:
        if "anthropic-version" in request.headers:
            return anthropic_error_response(request, status, message, headers, extra)
        return otherwise(request, status, message, headers, extra)

    return render
