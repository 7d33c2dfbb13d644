"""Serves the built single-page app at `/` (pure ASGI).

Files under `static/` are served as they are (content-hashed assets cached for a year); any other GET path
that is not an API path gets `index.html`, so client-side routes survive a reload. API paths that no route
matched stay a problem+json 404.

The web build (web/precompress.ts) leaves a brotli `.br` and a gzip `.gz` copy next to every text file worth
compressing; a browser that accepts one gets it (brotli first) with `Content-Encoding`, and every response of
such a file says `Vary: Accept-Encoding`. A range request gets byte ranges of the file itself. With a CDN
(`web.cdn_url`; README, "Static assets and a CDN") index.html points the hashed assets at the CDN, which pulls
them from this /assets/ path.
"""

from __future__ import annotations

import gzip
import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import Receive, Scope, Send

from parley.errors import allowed_methods, problem_response

STATIC_DIR = Path(__file__).resolve().parent / "static"
_API_PREFIXES = ("/api", "/v1", "/scim")
_IMMUTABLE = "public, max-age=31536000, immutable"
# Precompressed copies, in the order preferred when the browser accepts several equally.
_ENCODINGS = (("br", ".br"), ("gzip", ".gz"))
_CONTENT_TYPES = {".webmanifest": "application/manifest+json", ".js": "text/javascript", ".mjs": "text/javascript"}
# `src="/assets/..."` and `href="/assets/..."` in index.html: what a CDN serves instead.
_ASSET_LINK = re.compile(r"""(\s(?:src|href)=["'])/assets/""")
_NOT_BUILT = """<!doctype html><html lang="en"><meta charset="utf-8"><title>Parley</title>
<body style="font-family:system-ui;max-width:40rem;margin:4rem auto">
<h1>Parley is running</h1><p>The web app has not been built. Run <code>make web</code> (or <code>make run</code>,
which builds it), then reload. The API is available: see <a href="/docs">/docs</a>.</p></body></html>"""


def content_security_policy(cdn_url: str | None = None, image_hosts: Sequence[str] = ()) -> str:
    """The app needs nothing from elsewhere: scripts, styles, fonts and API calls all come from this origin, or
    the static files from the CDN when one is configured. Answers' images may also come from the allowed image
    hosts (`safety.image_hosts`), and from no other: the browser refuses what the web app would not load."""
    assets = "'self'"
    if cdn_url:
        parts = urlsplit(cdn_url)
        assets = f"'self' {parts.scheme}://{parts.netloc}"
    images = "".join(f" https://{host} http://{host}" for host in image_hosts)
    return (
        f"default-src 'self'; script-src {assets}; style-src {assets} 'unsafe-inline'; "
        f"img-src {assets}{images} data: blob:; font-src {assets} data:; connect-src 'self'; worker-src 'self'; "
        "manifest-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
    )


CONTENT_SECURITY_POLICY = content_security_policy()


def accepted_encodings(accept_encoding: str) -> list[str]:
    """The precompressed encodings an Accept-Encoding header allows, best first (RFC 9110 section 12.5.3:
    q-values, `*` for any coding not named, q=0 refuses)."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, parameters = item.strip().partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        weight = 1.0
        name, _, value = parameters.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value)
            except ValueError:
                weight = 0.0
        weights[coding] = weight
    wildcard = weights.get("*", 0.0)
    ranked = [(weights.get(coding, wildcard), -rank, coding) for rank, (coding, _) in enumerate(_ENCODINGS)]
    return [coding for weight, _, coding in sorted(ranked, reverse=True) if weight > 0]


@dataclass(frozen=True)
class _RewrittenIndex:
    """index.html with its asset links on the CDN, kept for as long as the file is unchanged."""

    stamp: tuple[int, int]
    identity: bytes
    gzip: bytes


class SinglePageApp:
    def __init__(
        self, directory: Path = STATIC_DIR, *, cdn_url: str | None = None, image_hosts: Sequence[str] = ()
    ) -> None:
        self.directory = directory.resolve()
        self.cdn_url = cdn_url.rstrip("/") if cdn_url else None
        self._policy = content_security_policy(self.cdn_url, image_hosts)
        self._index: _RewrittenIndex | None = None

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
        if candidate is not None and candidate != self.directory / "index.html":
            return self._static(request, candidate, self._caching(path))
        index = self.directory / "index.html"
        if not index.is_file():
            return HTMLResponse(_NOT_BUILT, headers={"Cache-Control": "no-cache"})
        headers = {"Cache-Control": "no-cache", "Content-Security-Policy": self._policy}
        if self.cdn_url:
            return self._index_on_cdn(request, index, headers)
        return self._static(request, index, headers)

    def _static(self, request: Request, file: Path, headers: dict[str, str]) -> Response:
        """`file`, or its precompressed copy the browser accepts (never for a range request: ranges are of
        the file itself)."""
        media_type = _CONTENT_TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "text/plain"
        variants = [(coding, file.with_name(file.name + suffix)) for coding, suffix in _ENCODINGS]
        variants = [(coding, path) for coding, path in variants if path.is_file()]
        if variants:
            headers = {**headers, "Vary": "Accept-Encoding"}
            if "range" not in request.headers:
                available = dict(variants)
                for coding in accepted_encodings(request.headers.get("accept-encoding", "")):
                    if coding in available:
                        return FileResponse(
                            available[coding], media_type=media_type, headers={**headers, "Content-Encoding": coding}
                        )
        return FileResponse(file, media_type=media_type, headers=headers)

    def _index_on_cdn(self, request: Request, index: Path, headers: dict[str, str]) -> Response:
        stat = index.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        rewritten = self._index
        if rewritten is None or rewritten.stamp != stamp:
            page = _ASSET_LINK.sub(lambda match: f"{match.group(1)}{self.cdn_url}/assets/", index.read_text())
            identity = page.encode()
            rewritten = _RewrittenIndex(stamp, identity, gzip.compress(identity, mtime=0))
            self._index = rewritten
        headers = {**headers, "Vary": "Accept-Encoding"}
        if "gzip" in accepted_encodings(request.headers.get("accept-encoding", "")):
            return Response(rewritten.gzip, media_type="text/html", headers={**headers, "Content-Encoding": "gzip"})
        return Response(rewritten.identity, media_type="text/html", headers=headers)

    def _file(self, path: str) -> Path | None:
        relative = path.lstrip("/")
        if not relative or relative.endswith("/"):
            return None
        candidate = (self.directory / relative).resolve()
        # Never outside the static directory, whatever the path says (.., encoded slashes, symlinks).
        if not candidate.is_relative_to(self.directory) or not candidate.is_file():
            return None
        # A precompressed copy is only ever served as the encoding of its original.
        if candidate.suffix in (".br", ".gz") and candidate.with_suffix("").is_file():
            return None
        return candidate

    def _caching(self, path: str) -> dict[str, str]:
        if path.startswith("/assets/"):
            headers = {"Cache-Control": _IMMUTABLE}
            if self.cdn_url:
                # The browser loads module scripts and fonts from the CDN in CORS mode; the CDN passes this on.
                headers["Access-Control-Allow-Origin"] = "*"
            return headers
        headers = {"Cache-Control": "no-cache"}
        if path.endswith(".html"):
            headers["Content-Security-Policy"] = self._policy
        return headers
