"""Models and documents: the LLM router, embeddings and retrieval (parts of `parley.config.Settings`)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
)


class LLMSettings(BaseModel):
    """How chats run: streaming, cancellation, resilience."""

    # A client that disconnects and does not come back within this many seconds cancels its generation.
    disconnect_grace_seconds: float = Field(default=15.0, ge=0, le=3600)
    # The partial answer is saved this often while streaming, so a crash loses at most this much.
    checkpoint_interval_seconds: float = Field(default=2.0, gt=0, le=60)
    # An unfinished answer not checkpointed for this long lost its generation (a crash): marked interrupted.
    interrupted_after_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Consecutive failures that open a model's circuit, and how long it stays open.
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_cooldown_seconds: float = Field(default=30.0, gt=0)
    # `auto`: prompts up to this many characters (without code) go to the cheapest model.
    auto_short_prompt_chars: int = Field(default=400, ge=0)
    # Events of a finished generation kept for late reconnects.
    replay_retention_seconds: float = Field(default=120.0, ge=0)
    # The in-process response cache (models with `cache:`, without REDIS_URL) keeps this much answer text at most.
    response_cache_max_mib: int = Field(default=64, ge=1, le=65_536)


def _half_the_cores() -> int:
    return max(1, min(64, (os.cpu_count() or 2) // 2))


class EmbeddingSettings(BaseModel):
    """How text becomes vectors: the bundled model (default) or any OpenAI-compatible embeddings endpoint."""

    # e5-small: bundled multilingual-e5-small (default: a question in one language finds passages in another;
    # see bench/README.md, "Embeddings"); minilm: bundled all-MiniLM-L6-v2 int8 ONNX (English, ~3x faster);
    # openai: any OpenAI-compatible endpoint at `base_url`.
    provider: Literal["minilm", "e5-small", "openai"] = "e5-small"
    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str = "text-embedding-3-small"
    # Vectors are stored as vector(384); a remote model must be asked for 384 dimensions.
    dimensions: int = Field(default=384, ge=1, le=4096)
    batch_size: int = Field(default=32, ge=1, le=2048)
    # Threads that embed documents = cores ingestion may use (each model call runs single-threaded in one);
    # by default half the machine's, so uploads never take the cores the chat needs. Questions get one more
    # thread of their own, so a chat never waits for a running document batch.
    threads: int = Field(default_factory=_half_the_cores, ge=1, le=64)
    # Other names `/v1/embeddings` answers with the configured model (besides its own name and `default`), so
    # tools that ask for OpenAI's models by name work unchanged. JSON list; [] accepts only the two.
    aliases: list[str] = Field(
        default_factory=lambda: ["text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"]
    )
    # A remote endpoint (`openai`) gets texts with their personal data masked (`<EMAIL>`, `<PERSON>`): document
    # chunks, questions and /v1/embeddings inputs alike; `off` sends them as written. The bundled models never
    # send anything anywhere.
    pii_policy: Literal["off", "mask"] = "mask"


class RagSettings(BaseModel):
    """Chunking and retrieval."""

    chunk_tokens: int = Field(default=350, ge=32, le=4000)
    chunk_overlap_tokens: int = Field(default=50, ge=0, le=1000)
    top_k: int = Field(default=6, ge=1, le=50)
    # Fusion: score = sum over the arms of weight / (rrf_k + rank), the keyword arm's weight scaled by the
    # square of the chunk's coverage of the question; 0 switches an arm off. rrf_k 10 (not Cormack's 60) keeps
    # the vector arm's first places apart, and the keyword arm weighs less, so it lifts chunks that hold the
    # question's rare words without reordering the vector arm's good answers (chosen by measurement:
    # bench/README.md, "Search quality").
    rrf_k: int = Field(default=10, ge=1)
    vector_weight: float = Field(default=1.0, ge=0)
    keyword_weight: float = Field(default=0.6, ge=0)
    # False: no vectors are made or stored for document chunks, and search is by keyword only (the blind index),
    # for deployments where an embedding (which places a chunk near others about the same thing, and may be
    # partly inverted) must not be kept either; questions are not embedded. Turned on later, files read while
    # it was off are found by keyword only until they are uploaded again (as after a change of model).
    vectors: bool = True
    # Candidates taken from each of the vector and the full-text search before fusion.
    candidates: int = Field(default=40, ge=1, le=1000)
    hnsw_ef_search: int = Field(default=100, ge=10, le=1000)
    # A question about files still being read waits this long for them before answering without them.
    ingestion_wait_seconds: float = Field(default=120.0, ge=0, le=3600)
    # "Summarise this document" reads at most this many whole documents (map-reduce over each).
    summary_max_documents: int = Field(default=5, ge=1, le=50)
