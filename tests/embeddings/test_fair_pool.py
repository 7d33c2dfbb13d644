"""The in-process embedding pool's scheduling, with a stand-in model whose batches wait on a gate (one for
documents, one for queries): work is queued while the one document thread (and, where it matters, the query
lane) is held, then released, and the order the model saw it in, and the thread it ran on, are asserted."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import pytest
import pytest_asyncio

from parley.embeddings import EmbeddingError
from parley.embeddings.local import LocalEmbedder
from parley.embeddings.pool import FairPool

T = TypeVar("T")
PATIENCE = 10.0  # seconds; a scheduling bug fails the test instead of hanging it


LANE = "parley-embed-query"  # the query lane's thread; document threads are parley-embed-<n>


class Gate:
    """Where batches wait: let through one by one (`release`) or all from now on (`open`)."""

    def __init__(self) -> None:
        self._permits = threading.Semaphore(0)
        self._open = threading.Event()

    def wait(self) -> None:
        if not self._open.is_set():
            assert self._permits.acquire(timeout=PATIENCE), "the test never let this batch through"

    def release(self, batches: int = 1) -> None:
        self._permits.release(batches)

    def open(self) -> None:
        self._open.set()
        self._permits.release(1000)


class GatedEmbedder(LocalEmbedder):
    """Records every batch it is given and the thread it runs on, then waits at its gate (`document_gate` or
    `query_gate`). A text "i:<n>" embeds as [n, 0]; a batch with "boom" in it fails."""

    name = "gated"
    dimensions = 2

    def __init__(self, *, threads: int = 1, batch_size: int = 1) -> None:
        super().__init__(threads=threads, batch_size=batch_size)
        self.seen: list[tuple[str, ...]] = []
        self.ran_on: dict[tuple[str, ...], str] = {}  # batch (as in `seen`) -> thread name
        self.document_gate = Gate()
        self.query_gate = Gate()
        self.loads = 0

    def _load(self) -> None:
        self.loads += 1

    def _encode(self, texts: Sequence[str], *, query: bool) -> npt.NDArray[np.float32]:
        batch = tuple(f"q:{text}" if query else text for text in texts)
        self.ran_on[batch] = threading.current_thread().name
        self.seen.append(batch)
        (self.query_gate if query else self.document_gate).wait()
        if any("boom" in text for text in texts):
            raise EmbeddingError("the model choked")
        return np.array([[float(text.rsplit(":", 1)[-1] or 0), 0.0] for text in texts], dtype=np.float32)

    def release(self, batches: int = 1) -> None:
        """Let `batches` more document batches through."""
        self.document_gate.release(batches)

    def open_gate(self) -> None:
        self.document_gate.open()
        self.query_gate.open()

    def threads_of(self, *, query: bool) -> set[str]:
        return {name for batch, name in self.ran_on.items() if batch[0].startswith("q:") == query}


@pytest_asyncio.fixture
async def embedder() -> AsyncIterator[GatedEmbedder]:
    model = GatedEmbedder()
    yield model
    model.open_gate()
    await asyncio.wait_for(model.aclose(), PATIENCE)


async def within(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, PATIENCE)


async def until(condition: str, check: Callable[[], bool]) -> None:
    """Wait (briefly polling) until `check()` holds: a pool thread got as far as the test needs."""
    for _ in range(int(PATIENCE / 0.005)):
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting until {condition}")


def texts(prefix: str, count: int) -> list[str]:
    return [f"{prefix}:{i}" for i in range(count)]


async def hold_the_pool(embedder: GatedEmbedder) -> asyncio.Task[list[list[float]]]:
    """A one-batch document the single document thread is now stuck in; documents after it queue."""
    task = asyncio.create_task(embedder.embed_documents(["hold:0"]))
    await until("the document thread holds the first batch", lambda: len(embedder.seen) == 1)
    return task


async def hold_the_lane(embedder: GatedEmbedder) -> asyncio.Task[list[float]]:
    """A query the query lane is now stuck in (the document thread is held already); queries after it queue."""
    task = asyncio.create_task(embedder.embed_query("hold:0"))
    await until("the query lane holds a query", lambda: ("q:hold:0",) in embedder.ran_on)
    assert embedder.ran_on["q:hold:0",] == LANE
    return task


class TestQueriesGoFirst:
    async def test_a_question_does_not_wait_for_the_document_batch_running(self, embedder):
        holder = await hold_the_pool(embedder)
        upload = asyncio.create_task(embedder.embed_documents(texts("doc", 20)))
        await asyncio.sleep(0)  # the upload's batches are queued
        embedder.query_gate.open()

        assert await within(embedder.embed_query("i:7")) == [7.0, 0.0]
        assert embedder.ran_on["q:i:7",] == LANE
        assert not holder.done()  # the document batch is still held mid-run
        assert embedder.seen == [("hold:0",), ("q:i:7",)]

        embedder.open_gate()
        assert [v[0] for v in await within(upload)] == list(range(20))
        await within(holder)
        assert len(embedder.seen) == 22

    async def test_with_the_lane_busy_a_question_runs_next_on_a_document_thread(self, embedder):
        holder = await hold_the_pool(embedder)
        lane_holder = await hold_the_lane(embedder)
        upload = asyncio.create_task(embedder.embed_documents(texts("doc", 20)))
        await asyncio.sleep(0)
        question = asyncio.create_task(embedder.embed_query("i:7"))
        await asyncio.sleep(0)
        embedder.release()  # the held batch finishes; the document thread takes the question before the upload

        await until("a third batch starts", lambda: len(embedder.seen) == 3)
        assert embedder.seen[2] == ("q:i:7",)
        assert embedder.ran_on["q:i:7",] == "parley-embed-0"
        embedder.query_gate.release(2)  # both queries waiting: the question and the lane's
        assert await within(question) == [7.0, 0.0]
        assert not upload.done()

        embedder.open_gate()
        assert [v[0] for v in await within(upload)] == list(range(20))
        await within(asyncio.gather(holder, lane_holder))
        assert len(embedder.seen) == 23

    async def test_document_batches_never_run_on_the_query_lane(self, embedder):
        holder = await hold_the_pool(embedder)
        upload = asyncio.create_task(embedder.embed_documents(texts("doc", 20)))
        await asyncio.sleep(0)
        embedder.query_gate.open()
        # The lane is idle between these questions while 20 batches wait; it must leave them alone.
        for n in range(3):
            assert await within(embedder.embed_query(f"i:{n}")) == [float(n), 0.0]
        embedder.document_gate.open()
        await within(asyncio.gather(holder, upload))
        assert embedder.threads_of(query=False) == {"parley-embed-0"}
        assert embedder.threads_of(query=True) == {LANE}


class TestDocumentsTakeTurns:
    async def test_two_documents_queued_together_interleave_their_batches(self, embedder):
        holder = await hold_the_pool(embedder)
        first = asyncio.create_task(embedder.embed_documents(texts("a", 3)))
        second = asyncio.create_task(embedder.embed_documents(texts("b", 3)))
        await asyncio.sleep(0)
        embedder.open_gate()
        await within(asyncio.gather(holder, first, second))
        assert [batch[0] for batch in embedder.seen[1:]] == ["a:0", "b:0", "a:1", "b:1", "a:2", "b:2"]

    async def test_a_small_document_after_a_big_one_waits_for_one_of_its_batches_not_all(self, embedder):
        big = asyncio.create_task(embedder.embed_documents(texts("big", 10)))
        await until("the big document's first batch runs", lambda: len(embedder.seen) == 1)
        embedder.release(2)
        await until("its third batch runs", lambda: len(embedder.seen) == 3)
        small = asyncio.create_task(embedder.embed_documents(texts("small", 2)))
        await asyncio.sleep(0)
        embedder.open_gate()
        await within(asyncio.gather(big, small))
        order = [batch[0] for batch in embedder.seen]
        assert order[:6] == ["big:0", "big:1", "big:2", "small:0", "big:3", "small:1"]

    async def test_results_keep_the_callers_order_across_sorted_batches_and_threads(self):
        embedder = GatedEmbedder(threads=2, batch_size=3)
        embedder.open_gate()
        try:
            # Lengths run against the order, so the length-sorted batches differ from the caller's order.
            values = [f"{'x' * (40 - i)}:{i}" for i in range(40)]
            vectors = await within(embedder.embed_documents(values))
            assert [v[0] for v in vectors] == list(range(40))
            assert len(embedder.seen) == 14
            # Long-lived threads (thread-local model handles stay valid), never more than `threads` for documents.
            assert await within(embedder.embed_query("i:5")) == [5.0, 0.0]
            assert embedder.threads_of(query=False) <= {"parley-embed-0", "parley-embed-1"}
            assert embedder.threads_of(query=True) <= {"parley-embed-0", "parley-embed-1", LANE}
            assert embedder.loads == 1
        finally:
            await within(embedder.aclose())


class TestFailures:
    async def test_a_failing_batch_fails_only_its_own_call(self, embedder):
        holder = await hold_the_pool(embedder)
        broken = asyncio.create_task(embedder.embed_documents(["a:1", "boom:2", "a:3"]))
        healthy = asyncio.create_task(embedder.embed_documents(texts("b", 3)))
        question = asyncio.create_task(embedder.embed_query("i:4"))
        await asyncio.sleep(0)
        embedder.open_gate()
        with pytest.raises(EmbeddingError, match="choked"):
            await within(broken)
        assert [v[0] for v in await within(healthy)] == [0.0, 1.0, 2.0]
        assert await within(question) == [4.0, 0.0]
        await within(holder)

    async def test_a_cancelled_caller_leaves_the_queue_and_the_pool_keeps_working(self, embedder):
        holder = await hold_the_pool(embedder)
        abandoned = asyncio.create_task(embedder.embed_documents(texts("gone", 5)))
        await asyncio.sleep(0)
        abandoned.cancel()
        with pytest.raises(asyncio.CancelledError):
            await within(abandoned)
        question = asyncio.create_task(embedder.embed_query("i:3"))
        await asyncio.sleep(0)
        embedder.open_gate()
        assert await within(question) == [3.0, 0.0]
        await within(holder)
        assert not any(batch[0].startswith("gone") for batch in embedder.seen)
        assert await within(embedder.embed_documents(["i:9"])) == [[9.0, 0.0]]


class TestClosing:
    async def test_close_fails_queued_callers_lets_the_running_batches_finish_and_can_repeat(self, embedder):
        holder = await hold_the_pool(embedder)
        lane_holder = await hold_the_lane(embedder)
        upload = asyncio.create_task(embedder.embed_documents(texts("doc", 5)))
        question = asyncio.create_task(embedder.embed_query("i:1"))
        await asyncio.sleep(0)
        closing = asyncio.create_task(embedder.aclose())

        # The queued callers hear at once, while the running batch and query are still held.
        for waiting in (upload, question):
            with pytest.raises(EmbeddingError, match="shut down") as caught:
                await within(waiting)
            assert caught.value.retryable
        assert not closing.done()

        embedder.open_gate()
        await within(closing)  # the lane's thread stopped too: aclose() joins every thread
        assert await within(holder) == [[0.0, 0.0]]
        assert await within(lane_holder) == [0.0, 0.0]
        assert embedder.seen == [("hold:0",), ("q:hold:0",)]
        await within(embedder.aclose())
        with pytest.raises(EmbeddingError, match="shut down"):
            await within(embedder.embed_query("i:2"))

    async def test_closing_an_embedder_that_never_ran_anything(self):
        embedder = GatedEmbedder(threads=3)
        await within(embedder.aclose())
        await within(embedder.aclose())


class TestPool:
    async def test_a_caller_whose_loop_has_closed_does_not_stop_the_thread(self):
        pool = FairPool(threads=1, name="test-pool")
        gate = threading.Event()

        async def submit_and_leave() -> None:
            pool.submit_query(lambda: gate.wait(PATIENCE))

        # Another loop, in a thread of its own, submits and is closed while the work is still held.
        await within(asyncio.to_thread(asyncio.run, submit_and_leave()))
        gate.set()
        try:
            assert await within(pool.submit_query(lambda: "still here")) == "still here"
        finally:
            pool.close()
            await within(asyncio.to_thread(pool.join))
