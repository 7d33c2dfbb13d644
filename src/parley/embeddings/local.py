"""The part every in-process model shares: a thread pool of its own, batching, lazy loading.

CPU budget: `settings.embeddings.threads` is the number of cores embedding may take. The pool has that many
threads and each model call runs single-threaded inside its thread (onnxruntime intra-op 1, OpenMP 1), so a
long document's batches run side by side on `threads` cores and never more, leaving the rest of the machine to
the event loop, the database and the chat model.

Loading is lazy: the model is verified (pinned SHA-256) and loaded by the first call, inside a pool thread.
A process that never embeds (a replica with no job workers that gets no `/v1/embeddings` call) never pays
for it; `create_embedder` still checks at start-up that the bundled package is installed, so a broken
installation is reported at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import numpy as np
import numpy.typing as npt

from parley.embeddings.base import EmbeddingError

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
    """An in-process model behind a dedicated thread pool. Subclasses load the model (`_load`, once, in a
    pool thread) and embed one batch (`_encode`, in a pool thread)."""

    name: str
    dimensions: int

    def __init__(self, *, threads: int, batch_size: int) -> None:
        self._batch_size = batch_size
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="parley-embed")
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
        loop = asyncio.get_running_loop()
        results = await asyncio.gather(
            *(loop.run_in_executor(self._pool, self._run, [texts[i] for i in batch], False) for batch in batches)
        )
        vectors: list[list[float]] = [[] for _ in texts]
        for batch, matrix in zip(batches, results, strict=True):
            for row, index in enumerate(batch):
                vectors[index] = matrix[row].tolist()
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        loop = asyncio.get_running_loop()
        matrix = await loop.run_in_executor(self._pool, self._run, [text], True)
        vector: list[float] = matrix[0].tolist()
        return vector

    async def aclose(self) -> None:
        # Waiting lets a running batch finish rather than pulling the model away under it.
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
