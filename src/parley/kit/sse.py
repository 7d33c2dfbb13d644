"""Server-sent events, encoded by hand: one small bytes object per event, no per-token model objects."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Callable
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from parley.kit.http1 import DISCONNECT_HOOK, DisconnectHook

# JSON on one line, non-ASCII as is: what every event's data is written with.
compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# What `compact_json` does to a string (C code): the one piece of a token's event that depends on the token.
_quote = json.encoder.encode_basestring


def encode_event(event: str, data: dict[str, Any], *, event_id: str | None = None) -> bytes:
    """`id:`, `event:` and a single-line JSON `data:` (JSON escapes newlines, so one line is always enough)."""
    head = f"id: {event_id}\nevent: {event}\n" if event_id is not None else f"event: {event}\n"
    return f"{head}data: {compact_json(data)}\n\n".encode()


def encode_delta(text: str, event_id: int) -> bytes:
    """The `delta` event of one token, `data: {"text":…}`: the same bytes as `encode_event("delta", {"text":
    text}, event_id=…)` for a fraction of the work, since it runs once per token of every stream."""
    return f'id: {event_id}\nevent: delta\ndata: {{"text":{_quote(text)}}}\n\n'.encode()


def data_event(payload: Any) -> bytes:
    """An event of `data:` only (OpenAI's streams: no `event:` line)."""
    return b"data: " + compact_json(payload).encode() + b"\n\n"


def encode_comment(text: str) -> bytes:
    """A comment line: keeps idle connections open through proxies."""
    return f": {text}\n\n".encode()


SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: pass events through as they come
}


_SSE_RAW_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in SSE_HEADERS.items()),
]


class EventStreamResponse(Response):
    """A `text/event-stream` response sending each chunk of `events` as it comes, as a bare ASGI app: one send
    per chunk and nothing else per event (Starlette's `StreamingResponse` adds a task group, an iterator
    wrapper and a type check per chunk). A client that disconnects ends the stream at once: the sending is
    cancelled when Parley's HTTP/1.1 protocol tells of the hang-up (`DisconnectHook`; under another server, a
    task per response waits for `http.disconnect`); `events` is closed either way, which is how its producer
    learns that the client has gone."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncGenerator[bytes, None]) -> None:
        # Response.__init__ would render an empty body and a Content-Length for it.
        self.status_code = 200
        self.background = None
        self.raw_headers = list(_SSE_RAW_HEADERS)
        self._events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        _shed_request_state(scope)
        task = asyncio.current_task()
        gone = False

        def hung_up() -> None:
            nonlocal gone
            gone = True
            if task is not None:
                task.cancel()

        # Parley's own HTTP/1.1 protocol tells of a hang-up directly; under another server a task waits for it.
        hook = scope.get(DISCONNECT_HOOK)
        watcher = None
        if isinstance(hook, DisconnectHook):
            hook.arm(hung_up)
        else:
            hook = None
            watcher = asyncio.create_task(_watch_disconnect(receive, hung_up))
        try:
            async with contextlib.aclosing(self._events) as events:
                await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
                async for chunk in events:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if gone and task is not None and task.uncancel() == 0:
                return
            raise
        finally:
            if hook is not None:
                hook.disarm()
            if watcher is not None:
                watcher.cancel()
        if self.background is not None:
            await self.background()


async def _watch_disconnect(receive: Receive, hung_up: Callable[[], None]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    hung_up()


def _shed_request_state(scope: Scope) -> None:
    """A stream may stay open for hours (an idle resume stream waits for an answer that may never speak): what
    the request left in its state for the endpoint (the caller's principal, with their user row) must not live
    as long. Everything that read it (the endpoint, its dependencies, the session's commit) is done by the time
    the response is sent; only the request id stays, for the access log and error responses."""
    state = scope.get("state")
    if state:
        for key in [key for key in state if key != "request_id"]:
            del state[key]
