"""The HTTP request metrics: a pure-ASGI middleware (a streamed response passes through it untouched, chunk by
chunk) timing every request by route TEMPLATE, method and status code."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley.metrics.instruments import HTTP_REQUEST_DURATION, HTTP_REQUESTS_IN_PROGRESS

# A request no route matched (or refused before routing): one label value for all of them, so scanners trying
# ten thousand paths make no new series.
UNMATCHED_ROUTE = "other"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetricsMiddleware:
    """Observes parley_http_request_duration_seconds{route, method, status} for every HTTP request and keeps
    parley_http_requests_in_progress. The route is the template of the route that took the request
    (`/api/v1/conversations/{conversation_id}`), read from the scope once routing has happened, never the raw
    path; the status is the one the response started with (500 when none was sent)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        HTTP_REQUESTS_IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, send_watched)
        finally:
            HTTP_REQUESTS_IN_PROGRESS.dec()
            method = scope["method"]
            HTTP_REQUEST_DURATION.labels(
                route=route_template(scope),
                method=method if method in _METHODS else "other",
                status=str(status),
            ).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The path template of the route the router chose for this request (Starlette puts it in the scope),
    or `other` when none matched."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) if route is not None else None
    return template if isinstance(template, str) and template else UNMATCHED_ROUTE
