"""Work an endpoint does before it sends anything, cancelled when the client hangs up meanwhile; and the event
stream response of the model APIs, whose status waits for the answer's first token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from parley.kit.sse import EventStreamResponse

T = TypeVar("T")
S = TypeVar("S")
S_co = TypeVar("S_co", covariant=True)


async def unless_the_client_leaves(request: Request, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None when the client hung up first: then `work` is cancelled, which closes the upstream
    call at once, as an event stream does once it runs. Needed while nothing is sent yet (a whole completion, or
    a stream waiting for its first token), when no response is there to notice the hang-up."""
    task = asyncio.current_task()
    assert task is not None  # an endpoint always runs in a task
    gone = False

    async def watch() -> None:
        nonlocal gone
        # The body was read already: what comes next is the disconnect.
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone = True
        task.cancel()

    watcher = asyncio.create_task(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if gone and task.uncancel() == 0:
            return None
        raise
    finally:
        watcher.cancel()


# Nobody reads it: the status nginx logs for a client that hung up before the answer.
CLIENT_CLOSED_REQUEST = 499


def client_closed() -> Response:
    """What an endpoint returns when the client hung up before anything was sent."""
    return Response(status_code=CLIENT_CLOSED_REQUEST)


class Opens(Protocol[S_co]):
    """A stream that waits for its first token before the response status is chosen."""

    async def open(self) -> S_co: ...


async def event_stream_once_open(
    request: Request,
    stream: Opens[S],
    events: Callable[[S], AsyncGenerator[bytes, None]],
    headers: Mapping[str, str],
) -> Response:
    """An event stream response once `stream` has its first token: when no model can start the answer, the
    error is raised before any status is sent (an HTTP error status, not a stream that says 200 and fails)."""
    opened = await unless_the_client_leaves(request, stream.open())
    if opened is None:
        return client_closed()
    streamed = EventStreamResponse(events(opened))
    streamed.headers.update(headers)
    return streamed
