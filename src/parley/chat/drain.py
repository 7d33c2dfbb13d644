"""Graceful drain on SIGTERM: a replica being stopped (a rolling upgrade, a scale-down) loses no answer.

On the first SIGTERM the replica says it is not ready (`/readyz` answers 503 at once, so the load balancer stops
sending it traffic) but keeps serving: requests that still arrive are answered, and the answers being written
go on. When they have all finished, or at the drain deadline (`PARLEY_DRAIN_TIMEOUT_SECONDS`, 30 s by default),
the server's own shutdown starts. Answers still being written at the deadline are handed over to the other
replicas (`chat.handover`: released, and the others told to take them at once); without Redis there is no
other replica, and they end as before (`cancelled`, their text kept). A second SIGTERM (or SIGINT) stops at
once.

The drain wraps the stop-signal handler of the server running the app (uvicorn's), so it is installed only
where one is (`parley serve`, each of its `--workers`), never in an app started by other means (tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

import structlog

from parley.chat import handover
from parley.chat.runs import Run

if TYPE_CHECKING:
    from parley.chat.engine import ChatEngine

_logger = structlog.get_logger("parley.chat.drain")

# How long released answers get to save their checkpoint before the shutdown goes on.
_RELEASE_WAIT_SECONDS = 10.0


class Drain:
    """The drain of one process: `draining` from the first SIGTERM on (readiness fails)."""

    def __init__(self, engine: ChatEngine, *, timeout_seconds: float) -> None:
        self.engine = engine
        self.timeout_seconds = timeout_seconds
        self.draining = False
        self._original: Any = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> bool:
        """Take over SIGTERM from the server's graceful handler, if one is installed (and this is the main
        thread, the only one signals reach). True when installed."""
        if threading.current_thread() is not threading.main_thread():
            return False
        current = signal.getsignal(signal.SIGTERM)
        if not callable(current):  # SIG_DFL / SIG_IGN / unknown: no server of ours to hand the stop to
            return False
        self._loop = asyncio.get_running_loop()
        self._original = current
        signal.signal(signal.SIGTERM, self._on_sigterm)
        return True

    def uninstall(self) -> None:
        if self._original is not None and signal.getsignal(signal.SIGTERM) == self._on_sigterm:
            signal.signal(signal.SIGTERM, self._original)
        if self._task is not None:
            self._task.cancel()

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if self.draining or self._loop is None:
            self._original(signum, frame)  # a second signal: stop now
            return
        self.draining = True
        self._loop.call_soon_threadsafe(self._begin, signum)

    def _begin(self, signum: int) -> None:
        self._task = asyncio.get_running_loop().create_task(self._drain_then_stop(signum), name="drain")

    async def _drain_then_stop(self, signum: int) -> None:
        try:
            await drain(self.engine, timeout_seconds=self.timeout_seconds)
        except Exception:  # the shutdown goes on whatever the drain did
            _logger.exception("drain_failed")
        finally:
            self._original(signum, None)


async def drain(engine: ChatEngine, *, timeout_seconds: float) -> None:
    """Wait for the answers being written here to finish, at most `timeout_seconds`; then hand the rest over
    (with a relay), or leave them to the shutdown (without)."""
    engine.draining = True
    started = time.monotonic()
    deadline = started + timeout_seconds
    _logger.info("drain_started", answers=len(_writing(engine)), timeout_seconds=timeout_seconds)
    finished = 0
    while (running := _writing(engine)) and (left := deadline - time.monotonic()) > 0:
        waiters = [asyncio.ensure_future(run.answer_saved.wait()) for run in running]
        try:
            done, _ = await asyncio.wait(waiters, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        finished += len(done)
    released = 0
    if running and engine.relay.can_hand_over:
        for run in running:
            if run.cancel(handover.RELEASED):
                released += 1
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_RELEASE_WAIT_SECONDS):
                await asyncio.gather(*(run.done.wait() for run in running))
        await engine.relay.announce_release()
    _logger.info(
        "drain_finished",
        seconds=round(time.monotonic() - started, 1),
        finished=finished,
        handed_over=released,
        left_to_shutdown=0 if engine.relay.can_hand_over else len(running),
    )


def _writing(engine: ChatEngine) -> list[Run]:
    """This replica's answers still being written (not those only writing their conversation's title)."""
    return [run for run in engine.runs.active() if run.task is not None and not run.answered]
