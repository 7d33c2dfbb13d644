"""Errors on the `/v1` surface use OpenAI's shape, which OpenAI SDKs turn into their own exception types."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

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
_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}


def openai_error_body(status: int, message: str, *, param: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
            "param": param,
            "code": _CODES.get(status),
        }
    }


def openai_error_response(
    request: Request, status: int, message: str, headers: dict[str, str], extra: dict[str, Any]
) -> JSONResponse:
    param = extra.get("param")
    if param is None and extra.get("errors"):
        location = [str(part) for part in extra["errors"][0].get("loc", ()) if part != "body"]
        param = ".".join(location) or None
    return JSONResponse(
        openai_error_body(status, message, param=param if isinstance(param, str) else None),
        status_code=status,
        headers=headers,
    )
