"""The part every in-process model shares: a thread pool of its own, fair scheduling, batching, lazy loading.

CPU budget: `settings.embeddings.threads` is the number of cores document embedding (ingestion) may take.
The pool has that many long-lived document threads and each model call runs single-threaded inside its thread
(onnxruntime intra-op 1, OpenMP 1), so a long document's batches run side by side on `threads` cores and never
more, leaving the rest of the machine to the event loop, the database and the chat model. Queries get one
more thread of their own (the query lane), so while a question is being embedded during an upload, embedding
takes at most `threads + 1` cores, for the few milliseconds of one query.

Scheduling (`FairPool`, in pool.py): the pool is shared by chat questions and document ingestion, so it is not
first in, first out. A query (`embed_query`: the question a user is waiting on) runs on the query lane, or on
a document thread that comes free first (queries go before any queued document batch there too), so it never
waits for a document batch, queued or running. Document calls take turns batch by batch: each waiting call
gets one batch in before any gets another, so a small document queued behind a big one waits for about one of
its batches, not all of them.

Loading is lazy: the model is verified (pinned SHA-256) and loaded by the first call, inside a pool thread.
A process that never embeds (a replica with no job workers that gets no `/v1/embeddings` call) never pays
for it; `create_embedder` still checks at start-up that the bundled package is installed, so a broken
installation is reported at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import partial
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import numpy as np
import numpy.typing as npt

from parley.embeddings.base import EmbeddingError
from parley.embeddings.pool import FairPool

_BLOCK_SIZE = 4 * 1024 * 1024


def package_file(package: str, relative_path: str) -> Path:
    """An installed file of a data-only package, found through the package's file list (RECORD)."""
    try:
        files = distribution(package).files or ()
    except PackageNotFoundError as exc:
        raise EmbeddingError(f"the bundled embedding package {package} is not installed; reinstall Parley") from exc
    for file in files:
        if str(file) == relative_path:
            return Path(str(file.locate()))
    raise EmbeddingError(f"the bundled embedding package {package} lacks {relative_path}; reinstall it")


def verified(path: Path, sha256: str) -> Path:
    """`path`, after checking its SHA-256 against the pinned one. Blocking."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as file:
            while block := file.read(_BLOCK_SIZE):
                digest.update(block)
    except OSError as exc:
        raise EmbeddingError(f"cannot read the embedding model file {path}: {exc}") from exc
    if digest.hexdigest() != sha256:
        raise EmbeddingError(
            f"the embedding model file {path} has sha256 {digest.hexdigest()}, expected {sha256}: "
            "the package is corrupt; reinstall it"
        )
    return path


class LocalEmbedder(ABC):
    """An in-process model behind a dedicated, fair thread pool. Subclasses load the model (`_load`, once, in a
    pool thread) and embed one batch (`_encode`, in a pool thread). Pool threads, the query lane's included, live
    as long as the embedder, so per-thread state (`threading.local`) made by `_encode` is made once per thread."""

    name: str
    dimensions: int

    def __init__(self, *, threads: int, batch_size: int) -> None:
        self._batch_size = batch_size
        self._pool = FairPool(threads=threads, name="parley-embed")
        # An embedder dropped without `aclose()` still lets its idle threads go.
        weakref.finalize(self, self._pool.close)
        self._load_lock = threading.Lock()
        self._loaded = False

    @abstractmethod
    def _load(self) -> None:
        """Load the model. Blocking; runs once, in a pool thread."""

    @abstractmethod
    def _encode(self, texts: Sequence[str], *, query: bool) -> npt.NDArray[np.float32]:
        """Embed one batch into an (n, dimensions) matrix of L2-normalised rows. Blocking; in a pool thread."""

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._load_lock:
            if not self._loaded:
                self._load()
                self._loaded = True

    def _run(self, texts: Sequence[str], query: bool) -> npt.NDArray[np.float32]:
        self._ensure_loaded()
        return self._encode(texts, query=query)

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        # Similar lengths in one batch waste less on padding; the answer keeps the caller's order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = [order[i : i + self._batch_size] for i in range(0, len(order), self._batch_size)]
        futures = self._pool.submit_batches([partial(self._run, [texts[i] for i in batch], False) for batch in batches])
        try:
            results = await asyncio.gather(*futures)
        except BaseException:
            # A failed batch fails the call: the rest of its batches leave the queue rather than run for nothing.
            for future in futures:
                future.cancel()
            raise
        vectors: list[list[float]] = [[] for _ in texts]
        for batch, matrix in zip(batches, results, strict=True):
            for row, index in enumerate(batch):
                vectors[index] = matrix[row].tolist()
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        matrix = await self._pool.submit_query(partial(self._run, [text], True))
        vector: list[float] = matrix[0].tolist()
        return vector

    async def aclose(self) -> None:
        """Stop the pool: a running batch finishes (rather than losing the model under it), queued work fails
        with a retryable `EmbeddingError`. Safe to call more than once."""
        self._pool.close()
        await asyncio.to_thread(self._pool.join)
