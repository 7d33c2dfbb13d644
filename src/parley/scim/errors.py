"""SCIM's own error shape (RFC 7644, section 3.12) for everything under /scim/v2.

Domain code raises the usual `ParleyError`s; a `scim_type` in their extras becomes the `scimType` member. The
renderer is registered as an error surface (`errors.install_error_handlers`), so validation errors, unknown routes
and unexpected failures under /scim/v2 get this shape too. Parley's 422 is SCIM's 400 (`invalidValue`, or
`invalidSyntax` for a body that is not JSON)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from parley.errors import BadRequest, ParleyError

SCIM_MEDIA_TYPE = "application/scim+json"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
PREFIX = "/scim/v2"


class ScimResponse(JSONResponse):
    media_type = SCIM_MEDIA_TYPE


class NotImplementedByParley(ParleyError):
    """A SCIM operation Parley does not offer (it says so in /ServiceProviderConfig where SCIM has a flag)."""

    status, code = 501, "not_implemented"


def invalid(message: str, scim_type: str = "invalidValue") -> BadRequest:
    """A 400 with a scimType (invalidFilter, invalidPath, invalidSyntax, invalidValue, mutability, noTarget…)."""
    return BadRequest(message, scim_type=scim_type)


def _scim_type(status: int, extra: dict[str, Any]) -> str | None:
    if isinstance(extra.get("scim_type"), str):
        return str(extra["scim_type"])
    if status == 409:
        return "uniqueness"
    if status == 422:
        types = {str(error.get("type", "")) for error in extra.get("errors", ()) if isinstance(error, dict)}
        return "invalidSyntax" if types & {"json_invalid", "model_attributes_type", "dict_type"} else "invalidValue"
    if status == 413:
        return "tooLarge"
    return None


def scim_error_response(
    request: Request, status: int, detail: str, headers: dict[str, str], extra: dict[str, Any]
) -> JSONResponse:
    scim_type = _scim_type(status, extra)
    status = 400 if status == 422 else status
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    if status == 401:
        headers = {**headers, "WWW-Authenticate": 'Bearer realm="parley-scim"'}
    return ScimResponse(body, status_code=status, headers=headers)
