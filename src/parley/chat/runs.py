"""Generations in flight: their event logs (for replay on reconnect), their listeners, cancellation.

A generation runs in its own task, not in the HTTP request that started it, so a client that drops off and
reconnects with `Last-Event-ID` finds it still going and gets what it missed. When nobody has listened for
`grace_seconds`, the generation is cancelled, so no tokens are paid for nobody.

With several replicas, a `RunObserver` (the Redis relay, `parley.chat.relay`) sees every event appended and
the finish, so another replica can serve a reconnect; that replica's reader counts here as a listener through
`remote_listener_seen`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import Any, Protocol

from parley.errors import Conflict

STILL_ANSWERING = "a reply is still being generated in this conversation; stop it first"
# Why a run stops when another replica has taken its answer over (`chat.handover`): it may write no more of it.
FENCED = "fenced"


class RunObserver(Protocol):
    """Told of every event a run appends (`number` is its SSE id) and of its finish. Called on the streaming hot
    path: it must only take note, never wait."""

    def appended(self, run: Run, number: int, encoded: bytes) -> None: ...

    def finished(self, run: Run) -> None: ...


class RunFeed(Protocol):
    """What a client can (re)attach to: a run of this process, or one relayed from another replica."""

    def listen(self, *, after: int = 0, grace_seconds: float) -> AsyncGenerator[bytes, None]: ...


class Run:
    """One generation: an append-only log of encoded SSE events with ids `<n>` (1, 2, …)."""

    def __init__(self, *, conversation_id: uuid.UUID, message_id: uuid.UUID, user_id: uuid.UUID) -> None:
        self.conversation_id = conversation_id
        self.message_id = message_id
        self.user_id = user_id
        self.events: list[bytes] = []
        self.finished = False
        # The answer is complete (done or error sent); only follow-up work such as the title may still run,
        # and a new message in the conversation need not wait for it.
        self.answered = False
        # Set with `answered`: what a stop waits for (the answer saved), not the title that may follow.
        self.answer_saved = asyncio.Event()
        self.finished_at: float | None = None
        self.cancel_reason: str | None = None
        self.task: asyncio.Task[None] | None = None
        self.listeners = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._grace_timer: asyncio.TimerHandle | None = None
        self._grace_seconds = 0.0
        # Monotonic time until which a reader on another replica is known to be attached.
        self.remote_listener_until = 0.0
        self.observer: RunObserver | None = None
        self.done = asyncio.Event()
        # What another replica needs to continue this answer should this process die (`chat.handover`): sent
        # with the run's first event when runs are relayed, never to clients.
        self.handover_note: bytes | None = None
        # The answer's writer token (`chat.handover`): set by whoever writes the answer now (the run that started
        # it, or the replica that took it over); its checkpoints, finish and relayed events apply only while the
        # message (and its Redis stream) still name it.
        self.writer = str(uuid.uuid4())
        # The model is writing the answer's text (what a fence interrupts).
        self.generating = False

    # The producer side -------------------------------------------------------------------------------
    def next_id(self) -> str:
        return str(len(self.events) + 1)

    def append(self, encoded: bytes) -> None:
        self.events.append(encoded)
        if self.observer is not None:
            self.observer.appended(self, len(self.events), encoded)
        self._wake()

    def finish(self) -> None:
        self.finished = True
        self.finished_at = time.monotonic()
        if self._grace_timer is not None:
            self._grace_timer.cancel()
        if self.observer is not None:
            self.observer.finished(self)
        self._wake()
        self.done.set()

    def mark_answered(self) -> None:
        """The answer is saved and its `done` or `error` is in the log; only follow-up work may still run."""
        self.answered = True
        self.answer_saved.set()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def cancel(self, reason: str) -> bool:
        """Ask the generation to stop; the partial answer is kept. False when it had already finished."""
        if self.finished or self.task is None:
            return False
        self.cancel_reason = self.cancel_reason or reason
        self.task.cancel()
        return True

    def fence(self) -> bool:
        """Another replica writes this answer now: stop at once, whatever else was asked (`FENCED`). False when
        the run had already finished."""
        if self.finished or self.task is None or self.cancel_reason == FENCED:
            return False
        asked = self.cancel_reason is not None  # a cancellation already on its way: only its reason changes
        self.cancel_reason = FENCED
        # Once its text is complete the run is saving it: that save finds the answer taken and stops there.
        if not asked and self.generating:
            self.task.cancel()
        return True

    def remote_listener_seen(self, *, for_seconds: float) -> None:
        """A reader on another replica is attached and will say so again within `for_seconds`."""
        self.remote_listener_until = max(self.remote_listener_until, time.monotonic() + for_seconds)

    # The listener side --------------------------------------------------------------------------------
    async def listen(self, *, after: int = 0, grace_seconds: float) -> AsyncGenerator[bytes, None]:
        """Events after number `after`, then live ones until the run finishes. Events that piled up while
        the listener was busy come as one chunk."""
        self.listeners += 1
        if self._grace_timer is not None:
            self._grace_timer.cancel()
            self._grace_timer = None
        position = max(0, after)
        events = self.events
        new_future = asyncio.get_running_loop().create_future
        try:
            while True:
                count = len(events)
                if position < count:
                    # Mostly one event per wake-up (one token): sent as it is, no copy.
                    chunk = events[position] if count - position == 1 else b"".join(events[position:])
                    position = count
                    yield chunk
                    continue
                if self.finished:
                    return
                waiter: asyncio.Future[None] = new_future()
                self._waiters.append(waiter)
                await waiter
        finally:
            self.listeners -= 1
            if self.listeners == 0 and not self.finished:
                self._grace_seconds = grace_seconds
                self._grace_timer = asyncio.get_running_loop().call_later(grace_seconds, self._cancel_if_abandoned)

    def expect_listener(self, *, grace_seconds: float) -> None:
        """Cancel the run if nobody listens within `grace_seconds` (here, or on another replica): for a run
        taken over from a replica that died, whose clients may never come back."""
        if self.listeners == 0 and self._grace_timer is None and not self.finished:
            self._grace_seconds = grace_seconds
            self._grace_timer = asyncio.get_running_loop().call_later(grace_seconds, self._cancel_if_abandoned)

    def _cancel_if_abandoned(self) -> None:
        self._grace_timer = None
        if self.listeners > 0 or self.finished:
            return
        # A remote reader counts like a local one: the grace period starts when its heartbeats stop.
        wait = self.remote_listener_until + self._grace_seconds - time.monotonic()
        if wait > 0:
            self._grace_timer = asyncio.get_running_loop().call_later(wait, self._cancel_if_abandoned)
            return
        self.cancel("disconnected")


class RunRegistry:
    """The runs of this process, by conversation (one live run per conversation). Finished runs stay for
    `retention_seconds` so a late reconnect can still replay the end of the answer."""

    def __init__(self, *, retention_seconds: float) -> None:
        self.retention_seconds = retention_seconds
        self._runs: dict[uuid.UUID, Run] = {}

    def reserve(self, run: Run) -> None:
        """Claim the conversation for a new generation (409 while another one is still running)."""
        self._prune()
        current = self._runs.get(run.conversation_id)
        if current is not None and not current.finished and not current.answered:
            raise Conflict(STILL_ANSWERING)
        self._runs[run.conversation_id] = run

    def release(self, run: Run) -> None:
        """Forget a run that never started (its request was rolled back)."""
        if self._runs.get(run.conversation_id) is run:
            del self._runs[run.conversation_id]

    def start(self, run: Run, work: Callable[[Run], Coroutine[Any, Any, None]]) -> None:
        run.task = asyncio.create_task(work(run), name=f"generation-{run.message_id}")

    def get(self, conversation_id: uuid.UUID) -> Run | None:
        return self._runs.get(conversation_id)

    def active(self) -> list[Run]:
        return [run for run in self._runs.values() if not run.finished]

    def _prune(self) -> None:
        horizon = time.monotonic() - self.retention_seconds
        stale = [
            key
            for key, run in self._runs.items()
            if run.finished and run.finished_at is not None and run.finished_at < horizon
        ]
        for key in stale:
            del self._runs[key]

    def cancel_user(self, user_id: uuid.UUID, reason: str) -> list[Run]:
        """Stop every generation of this process answering `user_id` (a suspended account); returns them."""
        runs = [run for run in self.active() if run.user_id == user_id and run.task is not None]
        for run in runs:
            run.cancel(reason)
        return runs

    async def cancel_all(self, reason: str) -> None:
        # A run that was reserved but never started (its request failed before the commit) has nothing to wait for.
        runs = [run for run in self.active() if run.task is not None]
        for run in runs:
            run.cancel(reason)
        await asyncio.gather(*(run.done.wait() for run in runs))
