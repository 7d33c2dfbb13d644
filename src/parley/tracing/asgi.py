"""The server span of every HTTP request (opentelemetry-instrumentation-asgi's pure-ASGI middleware), named after
the route template that answered it (`POST /api/v1/chat`, `GET /api/v1/conversations/{conversation_id}`)."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HELD_QUERY = "parley.tracing.query_string"


def _method_only(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    # Until routing has matched, the method alone: a raw path (with ids in it, or any path the web app answers)
    # would make as many span names as there are URLs.
    return str(scope.get("method") or scope.get("type", "request")), {}


class ServerSpans:
    """One server span per request, continuing the caller's trace when it sends a `traceparent`. No span per
    message sent or received: a streamed answer sends one per token."""

    def __init__(self, app: ASGIApp, *, tracer_provider: TracerProvider) -> None:
        self._inner = app
        self._app = OpenTelemetryMiddleware(
            self._named,
            tracer_provider=tracer_provider,
            default_span_details=_method_only,
            exclude_spans=["receive", "send"],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("query_string"):
            await self._app(scope, receive, send)
            return
        # The span is made from the request without its query string (which may carry a sign-in callback's code
        # or state); the app gets it back below.
        await self._app({**scope, "query_string": b"", _HELD_QUERY: scope["query_string"]}, receive, send)

    async def _named(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _HELD_QUERY in scope:
            scope["query_string"] = scope.pop(_HELD_QUERY)
        named = False

        async def send_named(message: Message) -> None:
            # Renamed when the response starts: routing is done by then, and the span ends with the last body
            # message, before this middleware's own code after the call would run.
            nonlocal named
            if not named:
                named = True
                _name_after_route(scope)
            await send(message)

        await self._inner(scope, receive, send_named)


def _name_after_route(scope: Scope) -> None:
    template = getattr(scope.get("route"), "path_format", None)
    span = trace.get_current_span()
    if template and span.is_recording():
        span.update_name(f"{scope.get('method', '')} {template}".strip())
        span.set_attribute("http.route", template)
