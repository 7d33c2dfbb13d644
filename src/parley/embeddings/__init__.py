"""Text to vectors: the bundled models (all-MiniLM-L6-v2 int8, multilingual-e5-small) or a remote
OpenAI-compatible endpoint, chosen by `settings.embeddings.provider`."""

from __future__ import annotations

from parley.config import EmbeddingSettings
from parley.embeddings.base import (
    DimensionsChooser,
    Embedder,
    EmbeddingError,
    EmbeddingRefused,
    InvalidTokenIds,
    TokenCounter,
    TokenDecoder,
    approximate_token_count,
    count_tokens,
)
from parley.models.file_chunk import EMBEDDING_DIMENSIONS

__all__ = [
    "DimensionsChooser",
    "Embedder",
    "EmbeddingError",
    "EmbeddingRefused",
    "InvalidTokenIds",
    "TokenCounter",
    "TokenDecoder",
    "approximate_token_count",
    "count_tokens",
    "create_embedder",
]


def create_embedder(settings: EmbeddingSettings) -> Embedder:
    """The configured embedder. Bundled models are checked to be installed now and loaded on first use."""
    if settings.dimensions != EMBEDDING_DIMENSIONS:
        raise ValueError(f"PARLEY_EMBEDDINGS__DIMENSIONS must be {EMBEDDING_DIMENSIONS}: stored vectors have that size")
    if settings.provider == "openai":
        from parley.embeddings.openai_compat import OpenAIEmbedder

        return OpenAIEmbedder(settings)
    if settings.provider == "e5-small":
        from parley.embeddings.e5 import E5Embedder

        return E5Embedder(threads=settings.threads, batch_size=settings.batch_size)
    from parley.embeddings.minilm import MiniLMEmbedder

    return MiniLMEmbedder(threads=settings.threads, batch_size=settings.batch_size)
