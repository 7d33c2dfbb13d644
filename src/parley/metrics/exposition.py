"""`GET /metrics`: the Prometheus exposition, for this process or (under `parley serve --workers N`) for all
of the server's processes added up, and who may read it.

On the main port it is open to loopback clients (a Prometheus or agent on the same machine) and, from anywhere
else, only with `Authorization: Bearer <PARLEY_METRICS__TOKEN>`. With `PARLEY_METRICS__PORT` it is served on
that port only (an internal port, open to whoever can reach it) and not on the main one."""

from __future__ import annotations

import hmac
import ipaddress
import threading
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import anyio.to_thread
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

from parley.config import MetricsSettings
from parley.errors import problem_response

METRICS_PATH = "/metrics"


def registry_for(multiprocess_dir: Path | None) -> CollectorRegistry:
    """What a scrape reads: the process's own registry, or, in multiprocess mode, a registry that adds up the
    files every process of the server writes in `multiprocess_dir`."""
    if multiprocess_dir is None:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
    return registry


def render(multiprocess_dir: Path | None) -> bytes:
    return generate_latest(registry_for(multiprocess_dir))


class MetricsEndpoint:
    """The ASGI endpoint of `GET /metrics` on the main port (a Starlette route, outside the OpenAPI schema)."""

    def __init__(self, settings: MetricsSettings, multiprocess_dir: Path | None) -> None:
        self._token = settings.token.get_secret_value().encode() if settings.token is not None else None
        self._multiprocess_dir = multiprocess_dir

    async def respond(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        # Reading the multiprocess files (or rendering a large registry) is file and CPU work: off the loop.
        body = await anyio.to_thread.run_sync(render, self._multiprocess_dir)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    def _refusal(self, request: Request) -> Response | None:
        if _is_loopback(request):
            return None
        if self._token is None:
            return problem_response(
                403,
                "metrics are served to loopback clients only; set PARLEY_METRICS__TOKEN to read them from elsewhere",
                request=request,
                code="forbidden",
            )
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), self._token):
            return problem_response(
                401,
                "metrics need the bearer token of PARLEY_METRICS__TOKEN",
                request=request,
                code="unauthorized",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return None


def _is_loopback(request: Request) -> bool:
    # The address uvicorn took from X-Forwarded-For when a trusted proxy sent it: a request relayed by a proxy
    # on this machine counts as coming from its real client.
    host = request.client.host if request.client is not None else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class InternalMetricsServer:
    """`/metrics` on its own port (`PARLEY_METRICS__PORT`), in a thread of its own: prometheus-client's small
    HTTP server, which never touches the event loop. Started by the app's lifespan, or by the supervisor of
    `parley serve --workers N` (then over the files of every worker)."""

    def __init__(self, host: str, port: int, multiprocess_dir: Path | None) -> None:
        self.host = host
        self.port = port
        self._registry = registry_for(multiprocess_dir)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._server, self._thread = start_http_server(self.port, addr=self.host, registry=self._registry)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
