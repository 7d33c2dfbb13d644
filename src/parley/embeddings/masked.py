"""A remote embedder that never sees personal data: each text is masked before it leaves Parley (README, "PII").

Document chunks (ingestion), questions (retrieval) and `/v1/embeddings` inputs all go through the process's one
embedder, so wrapping it covers every path to the remote endpoint. Masking, not pseudonymising: a vector cannot
carry a placeholder back, and `<EMAIL>` for every address keeps texts that differ only by whose data they hold
close to each other, which is what a search wants. The bundled models run in this process and are never wrapped.
Detection runs in a worker thread (spaCy's NER costs tens of milliseconds per chunk), off the event loop; the
remote call dominates anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from parley.embeddings.base import DimensionsChooser, Embedder
from parley.privacy.detection import Detector
from parley.privacy.redaction import mask


class RemoteEmbedder(Embedder, DimensionsChooser, Protocol):
    """What an OpenAI-compatible endpoint offers: embeddings, of another size on request."""


class MaskedEmbedder:
    """`inner`, with every text's personal data replaced by its kind's placeholder first."""

    def __init__(self, inner: RemoteEmbedder, detector: Detector) -> None:
        self._inner = inner
        self._detector = detector
        # Stored in files.embedding_model: masking does not change which model made a vector.
        self.name = inner.name
        self.dimensions = inner.dimensions

    async def _masked(self, texts: Sequence[str]) -> list[str]:
        return await asyncio.to_thread(lambda: [mask(text, self._detector.detect(text)) for text in texts])

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return await self._inner.embed_documents(await self._masked(texts))

    async def embed_documents_sized(self, texts: Sequence[str], dimensions: int) -> list[list[float]]:
        if not texts:
            return []
        return await self._inner.embed_documents_sized(await self._masked(texts), dimensions)

    async def embed_query(self, text: str) -> list[float]:
        (masked,) = await self._masked([text])
        return await self._inner.embed_query(masked)

    async def aclose(self) -> None:
        await self._inner.aclose()
