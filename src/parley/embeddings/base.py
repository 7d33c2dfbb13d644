"""What an embedder is: text in, L2-normalised vectors out, never on the event loop.

`Embedder` is the contract the rest of Parley uses (ingestion embeds chunks, retrieval embeds the question,
`/v1/embeddings` serves it). `TokenCounter` is an optional capability: an embedder that knows its own tokenizer
counts tokens with it, so chunks are cut to the model's real token budget; for one that does not (a remote
model) `approximate_token_count` stands in. `TokenDecoder`, likewise optional, turns the model's own token ids
back into text (`/v1/embeddings` takes token arrays); `DimensionsChooser` is a model that can return vectors of
another size than the stored one on request (only a remote endpoint can: the bundled models were not trained
for truncated vectors).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    # numpy is imported by the embedders that compute (never by a process that only imports this contract).
    import numpy as np
    import numpy.typing as npt


class EmbeddingError(Exception):
    """Embedding failed. `retryable` says whether trying again later may help (a remote endpoint that timed
    out) or not (a bundled model file that is missing or corrupt)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class Embedder(Protocol):
    """Turns text into vectors of `dimensions` floats, L2-normalised, so cosine similarity is a dot product.

    Documents and queries are embedded apart because some models (E5) mark them differently; for models that
    do not, the two are the same computation.
    """

    # Stored in files.embedding_model: chunks embedded by another model must be embedded again.
    name: str
    dimensions: int

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def embed_query(self, text: str) -> list[float]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class TokenCounter(Protocol):
    """An embedder that can count tokens the way its model sees them, special tokens and prefixes left out
    (blocking; call it from a thread)."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


class InvalidTokenIds(ValueError):
    """Token ids the tokenizer cannot read: outside its vocabulary. The message names the first such id."""


@runtime_checkable
class TokenDecoder(Protocol):
    """An embedder that can turn ids of its own tokenizer back into text (blocking; call it from a thread).

    Special tokens (start, end, padding, unknown, mask) carry no text and are left out; an id outside the
    vocabulary raises `InvalidTokenIds`.
    """

    def decode_tokens(self, token_ids: Sequence[Sequence[int]]) -> list[str]: ...


@runtime_checkable
class DimensionsChooser(Protocol):
    """An embedder that can be asked for vectors of another size (a remote model trained for it, such as
    OpenAI's text-embedding-3). Only for callers that do not store the vectors (`/v1/embeddings`)."""

    async def embed_documents_sized(self, texts: Sequence[str], dimensions: int) -> list[list[float]]: ...


class EmbeddingRefused(EmbeddingError):
    """The model refused the request as invalid (a remote endpoint's 400 for a size it cannot make): the
    caller's request is at fault, not the model."""


# Words and single punctuation marks; WordPiece/BPE vocabularies split English at roughly 1.3 tokens per word.
_WORD_OR_MARK = re.compile(r"\w+|[^\w\s]")
_TOKENS_PER_WORD = 1.3


def approximate_token_count(texts: Sequence[str]) -> list[int]:
    """A tokenizer-free estimate (words and punctuation x 1.3), for embedders that cannot count themselves."""
    return [int(len(_WORD_OR_MARK.findall(text)) * _TOKENS_PER_WORD + 0.5) for text in texts]


def count_tokens(embedder: Embedder, texts: Sequence[str]) -> list[int]:
    """Token counts by the embedder's own tokenizer when it has one, else the estimate. Blocking."""
    if isinstance(embedder, TokenCounter):
        return embedder.count_tokens(texts)
    return approximate_token_count(texts)


def l2_normalised(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    import numpy as np

    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    result: npt.NDArray[np.float32] = (matrix / np.clip(norms, 1e-12, None)).astype(np.float32)
    return result
