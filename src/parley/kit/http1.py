"""uvicorn's fast HTTP/1.1 protocol (httptools), taught to decline an upgrade offer it cannot take.

A client may offer to switch protocols on any request (`Connection: Upgrade`, `Upgrade: h2c`): curl's
`--http2` on plain HTTP and Java's built-in `HttpClient` do so by default, on POSTs too. RFC 9110 §7.8 lets the
server ignore the offer and answer over HTTP/1.1. uvicorn's httptools protocol does not: llhttp stops at the end
of the headers with the request marked complete and no body, so the app saw an empty body (a 422 "Field
required" for a good login) and the body bytes were lost (uvicorn issue #2722, open).

`Http1Protocol` keeps every other behaviour of uvicorn's protocol. When the parser stops for an upgrade that
is not a WebSocket handshake uvicorn will take, it starts no request for it; it rebuilds the request head
without the upgrade headers and feeds that, with the bytes that followed, to a fresh parser, which then
serves the request (body included) and every later request on the connection as usual.
"""

from __future__ import annotations

import asyncio

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Headers that only carry the declined offer; the app must not see an upgrade that did not happen.
_UPGRADE_HEADERS = frozenset({b"upgrade", b"http2-settings"})
_UPGRADE_TOKENS = frozenset({b"upgrade", b"http2-settings"})


class Http1Protocol(HttpToolsProtocol):
    """HTTP/1.1 over httptools; an upgrade offer other than an accepted WebSocket handshake is ignored."""

    _declining_upgrade = False

    def on_headers_complete(self) -> None:
        if self.parser.should_upgrade() and not self._should_upgrade() and self.parser.get_method() != b"CONNECT":
            # Served once the head is replayed without the offer (data_received); no request starts yet.
            self._declining_upgrade = True
            return
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._declining_upgrade:
            # llhttp calls this before any body was read; the replayed request completes for real.
            return
        super().on_message_complete()

    def on_body(self, body: bytes) -> None:
        if self._declining_upgrade:
            return
        super().on_body(body)

    def data_received(self, data: bytes) -> None:
        while True:
            self._unset_keepalive_if_required()
            try:
                self.parser.feed_data(data)
                return
            except httptools.HttpParserError:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
                return
            except httptools.HttpParserUpgrade as upgrade:
                if not self._declining_upgrade:
                    # A WebSocket handshake, or CONNECT: as uvicorn handles them.
                    if self._should_upgrade():
                        self.handle_websocket_upgrade()
                    else:
                        self._unsupported_upgrade_warning()
                    return
                # Start over on a fresh parser with the offer removed; loop, as the rest may hold more requests.
                data = self._head_without_upgrade() + data[upgrade.args[0] :]
                self._declining_upgrade = False
                self.parser = _new_parser(self)

    def _head_without_upgrade(self) -> bytes:
        version = self.parser.get_http_version().encode("ascii")
        lines = [self.parser.get_method(), b" ", self.url, b" HTTP/", version, b"\r\n"]
        for name, value in self.headers:
            if name in _UPGRADE_HEADERS:
                continue
            if name == b"connection":
                tokens = [token.strip() for token in value.split(b",")]
                value = b", ".join(token for token in tokens if token.lower() not in _UPGRADE_TOKENS)
                if not value:
                    continue
            lines += [name, b": ", value, b"\r\n"]
        lines.append(b"\r\n")
        return b"".join(lines)


def _new_parser(protocol: asyncio.Protocol) -> httptools.HttpRequestParser:
    parser = httptools.HttpRequestParser(protocol)
    # As uvicorn configures its own parser: answer the first of pipelined requests after a close.
    parser.set_dangerous_leniencies(lenient_data_after_close=True)
    return parser
