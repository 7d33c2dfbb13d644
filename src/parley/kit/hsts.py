"""HTTP Strict Transport Security: responses to requests that came over HTTPS tell browsers to use HTTPS only.

Pure ASGI (no per-chunk cost on streams). "Came over HTTPS" is the ASGI scheme: `https` when Parley serves TLS
itself (`parley serve --tls-cert/--tls-key`), and when a trusted proxy in front says so (X-Forwarded-Proto,
from an address in PARLEY_FORWARDED_ALLOW_IPS). A plain-HTTP response never carries it (browsers ignore it there,
and it would lock out a deployment still reached over HTTP).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class StrictTransportSecurityMiddleware:
    def __init__(self, app: ASGIApp, *, max_age_seconds: int, include_subdomains: bool = False) -> None:
        self.app = app
        value = f"max-age={max_age_seconds}" + ("; includeSubDomains" if include_subdomains else "")
        self._header = (b"strict-transport-security", value.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return
        header = self._header

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        await self.app(scope, receive, send_with_hsts)
