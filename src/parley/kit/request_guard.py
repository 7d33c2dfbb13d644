"""Bounds on what one request can make the server do before it is authenticated or validated (pure ASGI).

Two checks run before any route sees the request:

- **Body size, per route.** A body larger than its route's limit is refused with 413 at once when its
  `Content-Length` says so (before any of it is read), and as soon as the running count passes the limit when
  it is sent chunked. The rest of a refused body is never parsed: a declared one up to 64 MiB is read and
  discarded by the server (the connection stays usable), anything else is cut off (`Connection: close`).
  Without this, JSON routes parsed any size of body before the 422 (a 300 MiB unauthenticated login cost
  800 MiB of memory). Routes that read their own body as a stream against their own limit (uploads) are
  listed with no limit here.
- **Query strings PostgreSQL can hold.** A NUL character (`%00`) in a query parameter or the path is refused
  with 422, as it is in a body (`kit.inputs.Input`): PostgreSQL text cannot store or compare it, and the
  query used to fail in the database as a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley.errors import problem_response

_CLOSE = {"Connection": "close"}
# A refused body of declared size up to this is left for the server to read and discard after the answer
# (reading is cheap; nothing parses it), so a client still sending it gets the 413 and keeps its connection.
# A larger one, or a chunked one of unknown size, is not waited for: the answer closes the connection, and a
# client that is still sending may see the connection reset instead of the answer.
_DISCARD_AFTER_ANSWER_MAX = 64 * 1024 * 1024


@dataclass(frozen=True)
class BodyLimits:
    """The largest body in bytes per path prefix (the longest matching prefix wins; None: not limited here,
    the route enforces its own) and for every other path."""

    default: int
    by_prefix: Mapping[str, int | None] = field(default_factory=dict)

    def for_path(self, path: str) -> int | None:
        matches = [prefix for prefix in self.by_prefix if path.startswith(prefix)]
        return self.by_prefix[max(matches, key=len)] if matches else self.default


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes its limit. An HTTPException, so that FastAPI's body
    reading lets it through to the error handlers (any other exception there becomes a 400)."""

    code = "payload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit), headers=_CLOSE)


class RequestGuardMiddleware:
    def __init__(self, app: ASGIApp, *, body_limits: BodyLimits) -> None:
        self.app = app
        self.body_limits = body_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = _unstorable_character(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        limit = self.body_limits.for_path(scope["path"])
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            response = problem_response(
                413,
                _too_large(limit),
                request=Request(scope),
                code="payload_too_large",
                headers=_CLOSE if declared > _DISCARD_AFTER_ANSWER_MAX else None,
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted_receive, send)


def _too_large(limit: int) -> str:
    size = f"{limit // 1024} KiB" if limit < 1024 * 1024 else f"{limit / (1024 * 1024):g} MiB"
    return f"the request body is larger than this route accepts ({size})"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # uvicorn has already refused a malformed length; a non-number here is left to the server.
            return int(value) if value.isdigit() else None
    return None


def _unstorable_character(scope: Scope) -> Response | None:
    """A 422 problem response when the path or a query parameter holds a NUL character, else None."""
    query: bytes = scope.get("query_string", b"")
    where: list[str]
    if b"%00" in query or b"\x00" in query:
        # Decoded as Starlette decodes it for the endpoint, to name the parameter.
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        where = ["query", *[name for name, value in pairs if "\x00" in name + value][:1]]
    elif "\x00" in scope["path"]:
        where = ["path"]
    else:
        return None
    message = "must not contain NUL characters"
    return problem_response(
        422,
        f"{where[-1]}: {message}",
        request=Request(scope),
        code="validation_error",
        errors=[{"loc": where, "msg": message, "type": "string_nul"}],
    )
