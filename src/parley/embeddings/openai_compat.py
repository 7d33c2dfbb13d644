"""Any OpenAI-compatible `/embeddings` endpoint (OpenAI, Azure, vLLM, Ollama, llama.cpp, LM Studio, Parley).

The model is asked for `dimensions` numbers per text (stored vectors have a fixed size); an answer of another
size is an error rather than a silently broken index. No local CPU work happens here beyond normalising.
`/v1/embeddings` may ask for another size (`embed_documents_sized`): the remote model decides whether it can
(OpenAI's text-embedding-3 can, ada-002 cannot), and its refusal is the caller's error (`EmbeddingRefused`).
Parley cannot know the remote model's token ids, so this embedder decodes none (no `decode_tokens`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import openai

from parley.config import EmbeddingSettings
from parley.embeddings.base import EmbeddingError, EmbeddingRefused, l2_normalised


class OpenAIEmbedder:
    """Embeddings from a remote server through the official `openai` SDK, `batch_size` texts per request."""

    def __init__(self, settings: EmbeddingSettings, *, timeout_seconds: float = 60.0) -> None:
        if not settings.base_url:
            raise ValueError("embeddings provider 'openai' needs PARLEY_EMBEDDINGS__BASE_URL")
        self.name = settings.model
        self.dimensions = settings.dimensions
        self._batch_size = settings.batch_size
        api_key = settings.api_key.get_secret_value() if settings.api_key else "unused"
        self._client = openai.AsyncOpenAI(
            base_url=settings.base_url, api_key=api_key, timeout=timeout_seconds, max_retries=2
        )

    async def _embed(self, texts: Sequence[str], dimensions: int | None = None) -> list[list[float]]:
        size = dimensions or self.dimensions
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = list(texts[start : start + self._batch_size])
            try:
                response = await self._client.embeddings.create(
                    model=self.name, input=batch, dimensions=size, encoding_format="float"
                )
            except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as exc:
                raise EmbeddingError(f"the embeddings endpoint failed: {exc}", retryable=True) from exc
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                if dimensions is None:
                    raise EmbeddingError(f"the embeddings endpoint refused the request: {exc}") from exc
                raise EmbeddingRefused(f"{self.name} cannot return {size} dimensions: {exc.message}") from exc
            except openai.APIError as exc:
                raise EmbeddingError(f"the embeddings endpoint refused the request: {exc}") from exc
            rows = sorted(response.data, key=lambda item: item.index)
            if len(rows) != len(batch):
                raise EmbeddingError(f"the embeddings endpoint returned {len(rows)} vectors for {len(batch)} texts")
            matrix = np.asarray([row.embedding for row in rows], dtype=np.float32)
            if matrix.shape[1] != size:
                message = f"the embeddings model {self.name} returned {matrix.shape[1]} dimensions, expected {size}"
                if dimensions is not None:
                    raise EmbeddingRefused(f"{message}: it cannot return {size}")
                raise EmbeddingError(f"{message}: choose a model that can return {size}")
            vectors.extend(l2_normalised(matrix).tolist())
        return vectors

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return await self._embed(texts)

    async def embed_documents_sized(self, texts: Sequence[str], dimensions: int) -> list[list[float]]:
        """Vectors of `dimensions` numbers, if the remote model can make them (else `EmbeddingRefused`)."""
        if not texts:
            return []
        return await self._embed(texts, dimensions)

    async def embed_query(self, text: str) -> list[float]:
        return (await self._embed([text]))[0]

    async def aclose(self) -> None:
        await self._client.close()
