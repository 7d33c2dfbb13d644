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
from parley.privacy.detection import Detector
from parley.privacy.settings import PrivacySettings

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


def create_embedder(settings: EmbeddingSettings, *, detector: Detector | None = None) -> Embedder:
    """The configured embedder. Bundled models are checked to be installed now and loaded on first use; a
    remote one masks personal data first (unless `pii_policy` is `off`), with `detector` (the process's, so
    its models load once) or one of its own."""
    if settings.dimensions != EMBEDDING_DIMENSIONS:
        raise ValueError(f"PARLEY_EMBEDDINGS__DIMENSIONS must be {EMBEDDING_DIMENSIONS}: stored vectors have that size")
    if settings.provider == "openai":
        from parley.embeddings.openai_compat import OpenAIEmbedder

        remote = OpenAIEmbedder(settings)
        if settings.pii_policy == "off":
            return remote
        from parley.embeddings.masked import MaskedEmbedder

        return MaskedEmbedder(remote, detector or Detector(PrivacySettings()))
    if settings.provider == "e5-small":
        from parley.embeddings.e5 import E5Embedder

        return E5Embedder(threads=settings.threads, batch_size=settings.batch_size)
    from parley.embeddings.minilm import MiniLMEmbedder

    return MiniLMEmbedder(threads=settings.threads, batch_size=settings.batch_size)
