"""Work an endpoint does before it sends anything, cancelled when the client hangs up meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

T = TypeVar("T")


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
