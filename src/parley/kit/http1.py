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
from collections.abc import Callable

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Headers that only carry the declined offer; the app must not see an upgrade that did not happen.
_UPGRADE_HEADERS = frozenset({b"upgrade", b"http2-settings"})
_UPGRADE_TOKENS = frozenset({b"upgrade", b"http2-settings"})


# The scope key of a request's `DisconnectHook` (set by `Http1Protocol`; absent under other servers).
DISCONNECT_HOOK = "parley.disconnect_hook"


class DisconnectHook:
    """How a long response learns that its client hung up without a task of its own waiting in `receive()` for
    `http.disconnect` (a task, its coroutines and their frames are ~2 kB of every idle event stream): `arm` a
    callback, which the protocol calls once, as the connection is lost before the response is complete."""

    __slots__ = ("_callback", "_protocol")

    def __init__(self, protocol: Http1Protocol) -> None:
        self._protocol: Http1Protocol | None = protocol
        self._callback: Callable[[], None] | None = None

    def arm(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        protocol = self._protocol
        if protocol is not None and protocol.flow is not None:
            # As `receive()` does before it waits: a connection whose reading was paused (a large body) would
            # never see the client hang up.
            protocol.flow.resume_reading()

    def disarm(self) -> None:
        self._callback = None
        self._protocol = None

    def fire(self) -> None:
        callback, self._callback, self._protocol = self._callback, None, None
        if callback is not None:
            callback()


class Http1Protocol(HttpToolsProtocol):
    """HTTP/1.1 over httptools; an upgrade offer other than an accepted WebSocket handshake is ignored."""

    _declining_upgrade = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _with_list_waiters(self.flow._is_writable_event)

    def on_headers_complete(self) -> None:
        if self.parser.should_upgrade() and not self._should_upgrade() and self.parser.get_method() != b"CONNECT":
            # Served once the head is replayed without the offer (data_received); no request starts yet.
            self._declining_upgrade = True
            return
        super().on_headers_complete()
        if self.cycle is not None:
            _with_list_waiters(self.cycle.message_event)
            # Before the request's task first runs, so the app finds it.
            self.cycle.scope[DISCONNECT_HOOK] = DisconnectHook(self)  # type: ignore[literal-required]

    def connection_lost(self, exc: Exception | None) -> None:
        cycle = self.cycle
        super().connection_lost(exc)
        if cycle is not None and cycle.disconnected:
            hook = cycle.scope.get(DISCONNECT_HOOK)
            if isinstance(hook, DisconnectHook):
                hook.fire()

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


def _with_list_waiters(event: asyncio.Event) -> None:
    """Keep `event`'s waiters in a list instead of asyncio's deque. Each connection holds two such events
    (uvicorn's flow control and its request's message event) for as long as it is open, with at most one
    waiter each, and an empty deque is 760 bytes (a list, 56): 1.4 kB of every idle event stream. asyncio only
    appends, removes and iterates them. Left alone while someone waits (never the case for a new event)."""
    if not event._waiters:
        event._waiters = []  # type: ignore[assignment]
