"""`POST /v1/embeddings` in OpenAI's format: the configured embedder, for programs with a Parley API key.

Texts are embedded as documents (no query prefix), like OpenAI's own models, which make no difference between
the two. Usage is recorded per request (prompt tokens by the embedder's tokenizer, no cost for bundled models).
"""

from __future__ import annotations

import base64
import struct
from decimal import Decimal
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from parley.db import SessionDep
from parley.embeddings import Embedder, EmbeddingError, count_tokens
from parley.errors import ParleyError
from parley.openai_api.auth import OpenAIUser
from parley.quotas.dependencies import QuotaLedgerDep
from parley.usage import service as usage_service

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

MAX_INPUTS = 2048
MAX_INPUT_CHARS = 32_000
MAX_TOTAL_CHARS = 1_000_000
DEFAULT_MODEL = "default"

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {"application/json": {}}}
    for status, description in (
        (400, "Invalid input: empty, too many or too long texts, token arrays, other dimensions (OpenAI shape)"),
        (401, "Invalid API key (OpenAI error shape)"),
        (403, "The key lacks the `chat` scope, or the account is suspended"),
        (404, "Unknown model"),
        (422, "Invalid request (OpenAI error shape)"),
        (502, "The embedding model failed"),
    )
}


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Token arrays (OpenAI also takes lists of token ids) are refused with a clear message below.
    input: str | list[str] | list[int] | list[list[int]]
    model: str = DEFAULT_MODEL
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None


class InvalidEmbeddingRequest(ParleyError):
    """A 400 in OpenAI's shape, naming the offending parameter."""

    status, code = 400, "invalid_request_error"

    def __init__(self, message: str, *, param: str) -> None:
        super().__init__(message, param=param)


class UnknownEmbeddingModel(ParleyError):
    status, code = 404, "model_not_found"

    def __init__(self, message: str) -> None:
        super().__init__(message, param="model")


class EmbeddingFailed(ParleyError):
    status, code = 502, "embedding_failed"


async def _embedder(request: Request) -> Embedder:
    embedder: Embedder = request.app.state.embedder
    return embedder


EmbedderDep = Annotated[Embedder, Depends(_embedder)]


def _texts(body: EmbeddingRequest) -> list[str]:
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts:
        raise InvalidEmbeddingRequest("'input' must not be empty", param="input")
    if not all(isinstance(text, str) for text in texts):
        raise InvalidEmbeddingRequest("token arrays are not supported: send text", param="input")
    strings: list[str] = [text for text in texts if isinstance(text, str)]
    if len(strings) > MAX_INPUTS:
        raise InvalidEmbeddingRequest(f"'input' may hold at most {MAX_INPUTS} texts", param="input")
    for index, text in enumerate(strings):
        if not text:
            raise InvalidEmbeddingRequest(f"input[{index}] is empty", param="input")
        if len(text) > MAX_INPUT_CHARS:
            raise InvalidEmbeddingRequest(f"input[{index}] is longer than {MAX_INPUT_CHARS} characters", param="input")
    if sum(len(text) for text in strings) > MAX_TOTAL_CHARS:
        raise InvalidEmbeddingRequest(f"'input' may hold at most {MAX_TOTAL_CHARS} characters in all", param="input")
    return strings


def _encoded(vector: list[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        # Little-endian float32, as OpenAI's clients decode it (struct, not numpy: nothing else here needs numpy).
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector


@router.post("/embeddings", responses=_ERRORS, summary="Create embeddings (OpenAI format)")
async def create_embeddings(
    body: EmbeddingRequest, principal: OpenAIUser, embedder: EmbedderDep, session: SessionDep, ledger: QuotaLedgerDep
) -> dict[str, Any]:
    if body.model not in (DEFAULT_MODEL, embedder.name):
        raise UnknownEmbeddingModel(f"the embedding model '{body.model}' does not exist; use '{embedder.name}'")
    if body.dimensions is not None and body.dimensions != embedder.dimensions:
        raise InvalidEmbeddingRequest(f"'dimensions' must be {embedder.dimensions} for this model", param="dimensions")
    texts = _texts(body)
    try:
        vectors = await embedder.embed_documents(texts)
    except EmbeddingError as exc:
        raise EmbeddingFailed(f"embedding failed: {exc}") from exc
    # Counting is tokenizer work on the CPU: off the event loop like the embedding itself.
    prompt_tokens = sum(await _count(embedder, texts))
    await usage_service.record(
        session,
        ledger,
        user_id=principal.user_id,
        api_key_id=principal.api_key_id,
        model=embedder.name,
        prompt_tokens=prompt_tokens,
        completion_tokens=0,
        cost_usd=Decimal(0),
    )
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": _encoded(vector, body.encoding_format)}
            for index, vector in enumerate(vectors)
        ],
        "model": embedder.name,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


async def _count(embedder: Embedder, texts: list[str]) -> list[int]:
    return await anyio.to_thread.run_sync(count_tokens, embedder, texts)
