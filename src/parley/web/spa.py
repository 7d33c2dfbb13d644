"""Serves the built single-page app at `/` (pure ASGI).

Files under `static/` are served as they are (content-hashed assets cached for a year); any other GET path
that is not an API path gets `index.html`, so client-side routes survive a reload. API paths that no route
matched stay a problem+json 404.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import Receive, Scope, Send

from parley.errors import allowed_methods, problem_response

STATIC_DIR = Path(__file__).resolve().parent / "static"
_API_PREFIXES = ("/api", "/v1", "/scim")
# The app needs nothing from elsewhere: scripts, styles, fonts and API calls all come from this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)
_NOT_BUILT = """<!doctype html><html lang="en"><meta charset="utf-8"><title>Parley</title>
<body style="font-family:system-ui;max-width:40rem;margin:4rem auto">
<h1>Parley is running</h1><p>The web app has not been built. Run <code>make web</code> (or <code>make run</code>,
which builds it), then reload. The API is available: see <a href="/docs">/docs</a>.</p></body></html>"""


class SinglePageApp:
    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.directory = directory.resolve()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = self._respond(request)
        await response(scope, receive, send)

    def _respond(self, request: Request) -> Response:
        path = request.url.path
        if path in _API_PREFIXES or path.startswith(("/api/", "/v1/", "/scim/")):
            # An API path no route took: a known path with another method is a 405, anything else a 404.
            allowed = allowed_methods(request)
            if allowed:
                return problem_response(
                    405, "Method Not Allowed", request=request, headers={"Allow": ", ".join(allowed)}
                )
            return problem_response(404, "Not Found", request=request)
        if request.method not in ("GET", "HEAD"):
            return problem_response(405, "Method Not Allowed", request=request, headers={"Allow": "GET, HEAD"})
        candidate = self._file(path)
        if candidate is not None:
            return FileResponse(candidate, headers=self._caching(path))
        index = self.directory / "index.html"
        if not index.is_file():
            return HTMLResponse(_NOT_BUILT, headers={"Cache-Control": "no-cache"})
        return FileResponse(
            index,
            media_type="text/html",
            headers={"Cache-Control": "no-cache", "Content-Security-Policy": CONTENT_SECURITY_POLICY},
        )

    def _file(self, path: str) -> Path | None:
        relative = path.lstrip("/")
        if not relative or relative.endswith("/"):
            return None
        candidate = (self.directory / relative).resolve()
        # Never outside the static directory, whatever the path says (.., encoded slashes, symlinks).
        if not candidate.is_relative_to(self.directory) or not candidate.is_file():
            return None
        return candidate

    @staticmethod
    def _caching(path: str) -> dict[str, str]:
        if path.startswith("/assets/"):
            return {"Cache-Control": "public, max-age=31536000, immutable"}
        headers = {"Cache-Control": "no-cache"}
        if path.endswith(".html"):
            headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return headers
