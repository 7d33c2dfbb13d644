"""Errors on the `/v1` surface use OpenAI's shape, which OpenAI SDKs turn into their own exception types.

OpenAI answers a malformed request with 400 `invalid_request_error` naming the offending parameter as a dotted
path (`messages.0.content`), so validation errors (422 elsewhere in Parley) are 400 here; an unreadable JSON body
names no parameter; an unknown `/v1` route is a plain 404, not an unknown model. A failure of the upstream models
keeps a status SDKs act on: 429 (retried after a pause) for a rate limit, 503 with `Retry-After` for models
resting behind an open circuit, 400 for a request the model refused as invalid, 502 (retried) for the rest."""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from parley.llm.base import ProviderError
from parley.metrics import instruments as metrics

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
_CODES = {401: "invalid_api_key", 404: "not_found", 429: "rate_limit_exceeded"}
# Segments pydantic adds to an error's location for the member of a union it tried (`str`, `list[Part]`…):
# they name types, not parameters, and are no part of the path a client sent.
_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none", "bytes"})
# Upstream statuses that mean "the request itself was refused" (too long for the context, bad parameters).
_INVALID_UPSTREAM = frozenset({400, 413, 422})


def openai_error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
            "param": param,
            "code": code or _CODES.get(status),
        }
    }


def failure_status(exc: ProviderError) -> int:
    """The status a client gets when no model could answer: what it should do next, not the upstream's raw code
    (an upstream 401/404 is Parley's configuration at fault, a server error for the client)."""
    if exc.status == 429:
        return 429
    if exc.status == 503 and exc.retry_after is not None:
        return 503  # Parley rests the models behind an open circuit, and knows until when
    if exc.status in _INVALID_UPSTREAM:
        return 400
    return 502


def upstream_failure_response(exc: ProviderError) -> JSONResponse:
    """The error answer of a completion that no model could start; `Retry-After` when Parley knows when trying
    again can help (SDKs wait that long before their retry). Counted with the problem responses (metrics)."""
    status = failure_status(exc)
    metrics.ERRORS.labels(code="model_unavailable").inc()
    headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))} if exc.retry_after is not None else None
    return JSONResponse(openai_error_body(status, str(exc)), status_code=status, headers=headers)


def _param(location: list[Any] | tuple[Any, ...]) -> str | None:
    """`messages.0.content` from pydantic's `("body", "messages", 0, "content", "str")`, and
    `messages.0.content.0.image_url.detail` from `(..., "content", "list[ContentPart]", 0, "image_url", "detail")`."""
    path: list[str] = []
    for part in location[1:] if location and location[0] == "body" else location:
        if isinstance(part, str) and (part in _TYPE_TAGS or "[" in part):
            continue
        if isinstance(part, str) and not part.isidentifier():
            break
        path.append(str(part))
    return ".".join(path) or None


def telling_error(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The error that says what is wrong. Pydantic tries each member of a union (a message's `content`: a string
    or a list of parts) and reports the value is not a string before what is wrong inside the list it is: the
    first error is that mismatch, and a later one deeper in the same field is the one to name, when the value fits
    only one other member (with several, as `input` of /v1/embeddings can be, the first error stands)."""
    first = errors[0]
    location = list(first.get("loc", ()))
    if not location or location[-1] not in _TYPE_TAGS or not str(first.get("type", "")).endswith("_type"):
        return first
    field = location[:-1]
    deeper = [
        other
        for other in errors[1:]
        if len(other.get("loc", ())) > len(location)
        and list(other["loc"][: len(field)]) == field
        and other["loc"][len(field)] != location[-1]
    ]
    if len({other["loc"][len(field)] for other in deeper}) != 1:
        return first
    return deeper[0]


def openai_error_response(
    request: Request, status: int, message: str, headers: dict[str, str], extra: dict[str, Any]
) -> JSONResponse:
    """The renderer `install_error_handlers` calls for every error under `/v1/`."""
    param = extra.get("param")
    # A refusal with a code of OpenAI's kind of its own (`prompt_injection_refused`).
    code: str | None = extra.get("openai_code")
    errors = extra.get("errors")
    if status == 422 and isinstance(errors, list):
        status = 400
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            message, param = "We could not parse the JSON body of your request: it is not valid JSON.", None
        elif param is None:
            telling = telling_error(errors)
            param = _param(telling.get("loc", ()))
            if telling is not first:
                message = f"{param}: {telling.get('msg', 'invalid value')}"
    elif status == 422:
        status = 400
    if status == 404 and param == "model":
        code = "model_not_found"
    elif status == 404 and message == "Not Found" and not extra:
        # No route took the path (Starlette's and the web app's plain 404): say so, as OpenAI does.
        message, code = f"Unknown request URL: {request.method} {request.url.path}", "unknown_url"
    body = openai_error_body(status, message, param=param if isinstance(param, str) else None, code=code)
    if status == 429 and extra.get("limit_type") == "quota":
        # A used-up quota (`errors.QuotaExceeded`): OpenAI's SDKs tell it from a rate limit by this type/code.
        body["error"].update(type="insufficient_quota", code="insufficient_quota")
    return JSONResponse(body, status_code=status, headers=headers)
