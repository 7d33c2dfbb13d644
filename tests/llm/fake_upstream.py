"""A scripted HTTP/1.1 server on 127.0.0.1 that stands in for a provider's API.

Written on asyncio streams rather than a web framework so a test controls the bytes on the wire: chunked
bodies sent piece by piece, a connection dropped half-way through a body, and the moment the client hangs
up. Each connection carries one request (every response says `Connection: close`), so a client that goes
away mid-response is seen as the socket reaching end-of-file before the response was finished.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from parley.llm.base import ChatEvent, ChatModel, ChatRequest, ProviderError


@dataclass
class ReceivedRequest:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        """The path, percent-decoded."""
        return unquote(urlsplit(self.target).path)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    def json(self) -> Any:
        return json.loads(self.body)


class Response:
    """The reply being written to one request: either `respond()` at once, or `start()`, `send()`s, then
    `finish()` (or `drop()` to break the connection mid-body)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self.started = False
        self.finished = False
        self.client_gone = asyncio.Event()

    async def respond(
        self, status: int, body: bytes | Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> None:
        payload = json.dumps(body).encode() if isinstance(body, Mapping) else body
        all_headers = {"content-type": "application/json", **(headers or {}), "content-length": str(len(payload))}
        self._writer.write(self._head(status, all_headers) + payload)
        await self._writer.drain()
        self.started = self.finished = True

    async def start(self, status: int = 200, *, headers: Mapping[str, str] | None = None) -> None:
        all_headers = {"content-type": "text/event-stream", **(headers or {}), "transfer-encoding": "chunked"}
        self._writer.write(self._head(status, all_headers))
        await self._writer.drain()
        self.started = True

    async def send(self, data: bytes) -> None:
        """One chunk of the body, flushed at once (as a streaming server does per event)."""
        self._writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        await self._writer.drain()

    async def finish(self) -> None:
        self._writer.write(b"0\r\n\r\n")
        await self._writer.drain()
        self.finished = True

    def drop(self) -> None:
        """Break the connection without ending the body, as a crashing upstream or a proxy timeout does."""
        self._writer.transport.abort()
        self.finished = True

    @staticmethod
    def _head(status: int, headers: Mapping[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} Fake", *(f"{k}: {v}" for k, v in headers.items()), "connection: close"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


Handler = Callable[[ReceivedRequest, Response], Awaitable[None]]


async def _not_scripted(request: ReceivedRequest, response: Response) -> None:
    await response.respond(404, {"error": {"message": f"no handler for {request.path}"}})


@dataclass
class FakeUpstream:
    """The server. Set `handler` per test; `requests` records what arrived, `client_gone` is set when a
    client hung up before its response was finished, and `errors` holds handler failures (a test asserts
    it is empty, since an assertion inside a handler would otherwise be lost)."""

    handler: Handler = _not_scripted
    requests: list[ReceivedRequest] = field(default_factory=list)
    client_gone: asyncio.Event = field(default_factory=asyncio.Event)
    errors: list[BaseException] = field(default_factory=list)
    url: str = ""
    _server: asyncio.Server | None = None
    _connections: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        watcher: asyncio.Task[None] | None = None
        try:
            request = await self._read_request(reader)
            if request is None:
                return
            self.requests.append(request)
            response = Response(writer)
            watcher = asyncio.create_task(self._watch_hang_up(reader, response))
            await self.handler(request, response)
            if not response.finished:
                if response.started:
                    await response.finish()
                else:
                    await response.respond(204, b"")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; the watcher records it
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            if watcher is not None:
                # Give the watcher a moment to see the hang-up of a client that left mid-response.
                await asyncio.wait({watcher}, timeout=0.05)
                watcher.cancel()
            writer.close()
            self._connections.discard(task)

    async def _watch_hang_up(self, reader: asyncio.StreamReader, response: Response) -> None:
        try:
            data = await reader.read(1)
        except ConnectionError:
            data = b""
        if not data and not response.finished:
            response.client_gone.set()
            self.client_gone.set()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> ReceivedRequest | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers: dict[str, str] = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        return ReceivedRequest(method=method, target=target, headers=headers, body=body)


def sse(data: str, *, event: str | None = None) -> bytes:
    """One server-sent event, as OpenAI (`data:` only) and Anthropic (`event:` + `data:`) frame them."""
    prefix = f"event: {event}\n" if event is not None else ""
    return f"{prefix}data: {data}\n\n".encode()


async def collect(model: ChatModel, request: ChatRequest) -> list[ChatEvent]:
    return [event async for event in model.stream(request)]


async def collect_until_failure(model: ChatModel, request: ChatRequest) -> tuple[list[ChatEvent], ProviderError]:
    """The events a stream yielded before it failed, and its error; the test fails if it did not fail."""
    events: list[ChatEvent] = []
    try:
        async for event in model.stream(request):
            events.append(event)
    except ProviderError as exc:
        return events, exc
    raise AssertionError(f"the stream did not fail: {events!r}")


async def stop_after_two_deltas(model: ChatModel, request: ChatRequest, how: str) -> list[ChatEvent]:
    """Consume a stream until two deltas arrived, then walk away: `how` is "cancel" (the consuming task is
    cancelled, as when a client disconnects) or "aclose" (the consumer closes the generator)."""
    events: list[ChatEvent] = []
    two_deltas = asyncio.Event()

    async def consume() -> None:
        # Providers implement stream() as an async generator, which is what lets a consumer close it.
        stream = cast(AsyncGenerator[ChatEvent, None], model.stream(request))
        async for event in stream:
            events.append(event)
            if len(events) == 2:
                if how == "aclose":
                    await stream.aclose()
                    return
                two_deltas.set()

    task = asyncio.create_task(consume())
    if how == "cancel":
        await asyncio.wait_for(two_deltas.wait(), 5)
        task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert task.done()
    return events
