"""`POST /v1/embeddings` in OpenAI's format: the configured embedder, for programs with a Parley API key.

Texts are embedded as documents (no query prefix), like OpenAI's own models, which make no difference between
the two. Usage is recorded per request (prompt tokens by the embedder's tokenizer, no cost for bundled models).

Names: the model's own name, `default` and the aliases of `settings.embeddings.aliases` (OpenAI's model names by
default) all mean the configured model; the answer's `model` names it.

Token arrays (`input` as token ids, or a list of such lists) are read as text in the tokenizer of the model
the request names, as OpenAI does: under OpenAI's names, `default` and the aliases that is cl100k_base, OpenAI's
embedding models' tokenizer and what tiktoken-based clients send (LangChain's OpenAIEmbeddings sends
cl100k_base ids whatever the model's name: it falls back to that encoding for names tiktoken does not know);
under the configured model's own name it is that model's tokenizer (a bundled model decodes its own ids; a
remote model's ids Parley cannot know: 400). The decoded text is what gets embedded.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from parley.config import EmbeddingSettings
from parley.db import SessionDep
from parley.embeddings import (
    DimensionsChooser,
    Embedder,
    EmbeddingError,
    EmbeddingRefused,
    InvalidTokenIds,
    TokenDecoder,
    count_tokens,
)
from parley.errors import ParleyError
from parley.llm.tokenizers import TokenizerUnavailable, chat_encoding
from parley.openai_api.auth import OpenAIUser
from parley.quotas.dependencies import QuotaLedgerDep
from parley.usage import service as usage_service

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

MAX_INPUTS = 2048
MAX_INPUT_CHARS = 32_000
MAX_TOTAL_CHARS = 1_000_000
DEFAULT_MODEL = "default"
# OpenAI's own limits for token arrays: tokens in one input, and in a whole request.
MAX_INPUT_TOKENS = 8192
MAX_TOTAL_TOKENS = 300_000
# Decoded token arrays are ~4 characters a token; far more means ids picked for their length, not text.
MAX_DECODED_CHARS = 4_000_000
# OpenAI's embedding models, whose token ids are cl100k_base's whatever the configured model is.
OPENAI_EMBEDDING_MODELS = frozenset({"text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"})

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {"application/json": {}}}
    for status, description in (
        (
            400,
            "Invalid input: empty, too many or too long texts, unreadable token ids, other dimensions (OpenAI shape)",
        ),
        (401, "Invalid API key (OpenAI error shape)"),
        (403, "The key lacks the `chat` scope, or the account is suspended"),
        (404, "Unknown model"),
        (422, "Invalid request (OpenAI error shape)"),
        (502, "The embedding model failed"),
    )
}


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # A text, texts, token ids of one text, or token ids of several (strict: `true` or `1.5` is no token id).
    input: str | list[str] | list[StrictInt] | list[list[StrictInt]]
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


async def _settings(request: Request) -> EmbeddingSettings:
    settings: EmbeddingSettings = request.app.state.settings.embeddings
    return settings


EmbedderDep = Annotated[Embedder, Depends(_embedder)]
EmbeddingSettingsDep = Annotated[EmbeddingSettings, Depends(_settings)]


def _check_model(requested: str, embedder: Embedder, aliases: Sequence[str]) -> None:
    if requested in (DEFAULT_MODEL, embedder.name) or requested in aliases:
        return
    names = ", ".join(f"'{name}'" for name in (embedder.name, DEFAULT_MODEL, *aliases))
    raise UnknownEmbeddingModel(f"the embedding model '{requested}' does not exist; use one of {names}")


def _check_dimensions(dimensions: int | None, embedder: Embedder) -> None:
    if dimensions is None or dimensions == embedder.dimensions or isinstance(embedder, DimensionsChooser):
        return
    raise InvalidEmbeddingRequest(
        f"'dimensions' {dimensions} is not available for {embedder.name}: it makes {embedder.dimensions}-dimensional "
        "vectors and was not trained to be shortened (Matryoshka truncation is not valid for this model); "
        f"omit 'dimensions' or send {embedder.dimensions}",
        param="dimensions",
    )


def _token_arrays(body: EmbeddingRequest) -> list[list[int]] | None:
    """The request's token arrays (one text's ids count as one array), checked for size; None for text."""
    value = body.input
    if isinstance(value, str) or not value or isinstance(value[0], str):
        return None
    arrays: list[list[int]] = [value] if isinstance(value[0], int) else value
    if len(arrays) > MAX_INPUTS:
        raise InvalidEmbeddingRequest(f"'input' may hold at most {MAX_INPUTS} token arrays", param="input")
    for index, ids in enumerate(arrays):
        if not ids:
            raise InvalidEmbeddingRequest(f"input[{index}] is empty", param="input")
        if len(ids) > MAX_INPUT_TOKENS:
            raise InvalidEmbeddingRequest(f"input[{index}] holds more than {MAX_INPUT_TOKENS} tokens", param="input")
    if sum(len(ids) for ids in arrays) > MAX_TOTAL_TOKENS:
        raise InvalidEmbeddingRequest(f"'input' may hold at most {MAX_TOTAL_TOKENS} tokens in all", param="input")
    return arrays


def _decode_openai_tokens(token_ids: Sequence[Sequence[int]]) -> list[str]:
    """cl100k_base ids back to text; its special tokens (<|endoftext|> …) carry no text and are left out.
    Blocking (the table's first load takes ~0.2 s)."""
    encoding = chat_encoding()
    special = {encoding.encode_single_token(token) for token in encoding.special_tokens_set}
    texts: list[str] = []
    for ids in token_ids:
        kept = [token for token in ids if token not in special]
        try:
            data = encoding.decode_bytes(kept)
        except (KeyError, OverflowError):
            bad = next(token for token in kept if not _is_cl100k_token(encoding, token))
            raise InvalidTokenIds(f"token id {bad} is not in the vocabulary of cl100k_base") from None
        # A client that cut a text by tokens may have split a character: the halves become U+FFFD.
        texts.append(data.decode("utf-8", errors="replace"))
    return texts


def _is_cl100k_token(encoding: Any, token: int) -> bool:
    try:
        encoding.decode_single_token_bytes(token)
    except (KeyError, OverflowError):
        return False
    return True


def _token_reader(requested: str, embedder: Embedder) -> Callable[[Sequence[Sequence[int]]], list[str]]:
    """How the token ids of a request naming `requested` become text (see the module docstring)."""
    if requested != embedder.name or requested in OPENAI_EMBEDDING_MODELS:
        return _decode_openai_tokens
    if isinstance(embedder, TokenDecoder):
        return embedder.decode_tokens
    raise InvalidEmbeddingRequest(
        f"token arrays cannot be read for {embedder.name}: Parley does not know its tokenizer's ids; send text, or "
        f"send cl100k_base token ids with the model '{DEFAULT_MODEL}'",
        param="input",
    )


async def _decoded(arrays: list[list[int]], requested: str, embedder: Embedder) -> list[str]:
    reader = _token_reader(requested, embedder)
    try:
        texts = await anyio.to_thread.run_sync(reader, arrays)
    except InvalidTokenIds as exc:
        raise InvalidEmbeddingRequest(str(exc), param="input") from exc
    except TokenizerUnavailable as exc:
        raise EmbeddingFailed(f"token ids cannot be read here: {exc}") from exc
    for index, text in enumerate(texts):
        if not text:
            raise InvalidEmbeddingRequest(f"input[{index}] holds no text (only special tokens)", param="input")
    if sum(len(text) for text in texts) > MAX_DECODED_CHARS:
        raise InvalidEmbeddingRequest(f"'input' decodes to more than {MAX_DECODED_CHARS} characters", param="input")
    return texts


def _texts(body: EmbeddingRequest) -> list[str]:
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts:
        raise InvalidEmbeddingRequest("'input' must not be empty", param="input")
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
    body: EmbeddingRequest,
    principal: OpenAIUser,
    embedder: EmbedderDep,
    settings: EmbeddingSettingsDep,
    session: SessionDep,
    ledger: QuotaLedgerDep,
) -> dict[str, Any]:
    _check_model(body.model, embedder, settings.aliases)
    _check_dimensions(body.dimensions, embedder)
    arrays = _token_arrays(body)
    if arrays is None:
        texts = _texts(body)
        # Counting is tokenizer work on the CPU: off the event loop like the embedding itself. A text the
        # model was run on counts at least one token, whatever its tokenizer makes of it.
        prompt_tokens = sum(max(1, count) for count in await _count(embedder, texts))
    else:
        texts = await _decoded(arrays, body.model, embedder)
        prompt_tokens = sum(len(ids) for ids in arrays)
    vectors = await _embed(embedder, texts, body.dimensions)
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


async def _embed(embedder: Embedder, texts: list[str], dimensions: int | None) -> list[list[float]]:
    try:
        if dimensions is not None and dimensions != embedder.dimensions and isinstance(embedder, DimensionsChooser):
            return await embedder.embed_documents_sized(texts, dimensions)
        return await embedder.embed_documents(texts)
    except EmbeddingRefused as exc:
        raise InvalidEmbeddingRequest(str(exc), param="dimensions") from exc
    except EmbeddingError as exc:
        raise EmbeddingFailed(f"embedding failed: {exc}") from exc


async def _count(embedder: Embedder, texts: list[str]) -> list[int]:
    return await anyio.to_thread.run_sync(count_tokens, embedder, texts)
