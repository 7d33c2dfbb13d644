"""The embedding pool's scheduler: a fixed set of worker threads that serve queries first and share the rest
fairly between document calls, plus a query lane.

A plain executor is first in, first out: a chat question waits behind every batch of a 1000-page upload, and a
small document behind all of a big one. Here every piece of work has a priority (class, round, sequence), the
smallest first:

- class: queries (0) always run before document batches (1). Besides the `threads` document threads, which
  take both kinds, one more thread (the query lane) takes queries only, so a question never waits for a
  document batch already running: at worst for the query ahead of it on the lane, or for whichever thread
  comes free first when several questions arrive at once. Document batches never run on the lane, so
  ingestion stays within `threads` cores.
- round: batch i of a document call gets round `V + i`, where V is the round of the document batch that last
  started. Every waiting call thus gets one batch in before anyone gets a second (round-robin), and a call that
  arrives late joins the current round instead of starting at 0, so a long call still moves while new short
  ones keep arriving (start-time fair queueing, with a batch as the unit of work).
- sequence: first come, first served within a round.

Results resolve asyncio futures on the caller's own loop (`call_soon_threadsafe`). Work whose caller has gone
(its future cancelled) is dropped when its turn comes, not run.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from parley.embeddings.base import EmbeddingError

T = TypeVar("T")

_QUERY, _DOCUMENT = 0, 1


class _Job(Generic[T]):
    """One call of `work` in a pool thread, and where its outcome goes."""

    __slots__ = ("cancelled", "future", "loop", "work")

    def __init__(self, work: Callable[[], T], loop: asyncio.AbstractEventLoop) -> None:
        self.work = work
        self.loop = loop
        self.future: asyncio.Future[T] = loop.create_future()
        # Set on the caller's loop, read by a pool thread: a plain flag, as asyncio futures are not thread-safe.
        self.cancelled = False
        self.future.add_done_callback(self._on_done)

    def _on_done(self, future: asyncio.Future[T]) -> None:
        self.cancelled = future.cancelled()

    def resolve(self, value: T) -> None:
        """Hand the result to the caller's loop. Callable from any thread."""
        self._call_on_loop(_set_result, self.future, value)

    def fail(self, error: BaseException) -> None:
        """Hand the error to the caller's loop. Callable from any thread."""
        self._call_on_loop(_set_exception, self.future, error)

    def _call_on_loop(self, callback: Callable[..., None], *args: object) -> None:
        # A closed loop means nobody is waiting any more; the pool thread carries on.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(callback, *args)


def _set_result(future: asyncio.Future[T], value: T) -> None:
    if not future.done():  # else cancelled by its caller meanwhile
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


class FairPool:
    """`threads` long-lived document threads and one query-lane thread running blocking work by priority (see
    the module docstring).

    Submit from a running event loop; await the futures returned. Threads start with the first submission;
    `close()` stops them after the work in hand, and fails everything still queued.
    """

    def __init__(self, *, threads: int, name: str) -> None:
        self._size = threads
        self._name = name
        self._lock = threading.Lock()
        # One condition per kind of thread, so a document batch never wakes the lane in place of a thread
        # that could run it (a lost wake-up).
        self._work_ready = threading.Condition(self._lock)
        self._query_ready = threading.Condition(self._lock)
        self._queue: list[tuple[int, int, int, _Job[Any]]] = []
        self._sequence = 0
        self._round = 0
        self._closed = False
        self._threads: list[threading.Thread] = []

    def submit_query(self, work: Callable[[], T]) -> asyncio.Future[T]:
        """Run `work` ahead of every queued document batch, on the query lane or a document thread."""
        job = _Job(work, asyncio.get_running_loop())
        with self._lock:
            self._check_open()
            self._push(_QUERY, 0, job)
        return job.future

    def submit_batches(self, works: Sequence[Callable[[], T]]) -> list[asyncio.Future[T]]:
        """Run the batches of one document call, taking turns with other calls; futures in `works`' order."""
        loop = asyncio.get_running_loop()
        jobs = [_Job(work, loop) for work in works]
        with self._lock:
            self._check_open()
            for offset, job in enumerate(jobs):
                self._push(_DOCUMENT, self._round + offset, job)
        return [job.future for job in jobs]

    def close(self) -> None:
        """Stop taking work, fail what is queued, let running work finish. Returns at once; idempotent."""
        with self._lock:
            self._closed = True
            queued = [job for *_, job in self._queue]
            self._queue.clear()
            self._work_ready.notify_all()
            self._query_ready.notify_all()
        for job in queued:
            job.fail(EmbeddingError("the embedding pool shut down before this text was embedded", retryable=True))

    def join(self) -> None:
        """Wait for the threads, the lane's too, to stop (after `close()`). Blocking."""
        for thread in self._threads:
            thread.join()

    def _check_open(self) -> None:
        # Called with the lock held.
        if self._closed:
            raise EmbeddingError("the embedding pool is shut down", retryable=True)

    def _push(self, kind: int, round_: int, job: _Job[Any]) -> None:
        # Called with the lock held.
        self._sequence += 1
        heapq.heappush(self._queue, (kind, round_, self._sequence, job))
        if not self._threads:
            self._start_threads()
        self._work_ready.notify()
        if kind == _QUERY:
            # Whichever comes first, the lane or an idle document thread; the other finds nothing and waits on.
            self._query_ready.notify()

    def _start_threads(self) -> None:
        # Called with the lock held.
        lanes = [(f"{self._name}-{number}", False) for number in range(self._size)] + [(f"{self._name}-query", True)]
        for thread_name, queries_only in lanes:
            # Daemon threads: an embedder never closed must not hold up the interpreter's exit.
            thread = threading.Thread(target=self._work, args=(queries_only,), name=thread_name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _has_work(self, queries_only: bool) -> bool:
        # Called with the lock held. Queries sort first, so the heap's top says whether any is queued.
        return bool(self._queue) and (not queries_only or self._queue[0][0] == _QUERY)

    def _next(self, queries_only: bool) -> _Job[Any] | None:
        ready = self._query_ready if queries_only else self._work_ready
        with self._lock:
            while not self._has_work(queries_only) and not self._closed:
                ready.wait()
            if self._closed:
                return None
            kind, round_, _, job = heapq.heappop(self._queue)
            if kind == _DOCUMENT:
                self._round = max(self._round, round_)
            return job

    def _work(self, queries_only: bool) -> None:
        while True:
            job = self._next(queries_only)
            if job is None:
                return
            if not job.cancelled:
                self._run(job)
            # An idle thread must not keep the last batch (and through it the embedder) alive.
            del job

    @staticmethod
    def _run(job: _Job[Any]) -> None:
        try:
            value = job.work()
        except BaseException as exc:  # the caller's to handle, whatever it is; this thread lives on
            job.fail(exc)
        else:
            job.resolve(value)
