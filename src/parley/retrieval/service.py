"""Retrieval: the chunks of readable files that best answer a question, for citing in a chat answer.

Hybrid search (vector + full text stemmed per language and scored by word rarity, fused by weighted
reciprocal rank fusion) in one SQL statement whose access filter is
evaluated on every call: a chunk is a candidate only if the caller may read its file right now (own file, file
of one of the caller's conversations, or file of a knowledge base the caller owns or is granted by user or
role). The scope then says which of those readable files this search is about.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parley.config import RagSettings
from parley.crypto import content as sealed
from parley.crypto import orm_content as _orm_content  # noqa: F401 (opens sealed chunks the ORM loads)
from parley.embeddings import Embedder
from parley.errors import NotFound
from parley.kit.languages import FUNCTION_WORDS, LANGUAGES, UNSTEMMED, detect_language
from parley.retrieval import repository
from parley.tracing import spans as tracing

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Words that ask rather than say what the question is about; the function words of the question's language
# (kit/languages.py) are dropped as well.
_QUESTION_WORD_TEXT = """please tell give show find know list describe explain bitte zeige erkläre erklär nenne gib
    sag sage welche welcher welches dime muestra explica explícame cuál cuáles"""
_QUESTION_WORDS = frozenset(_QUESTION_WORD_TEXT.split())
_MAX_QUERY_WORDS = 32


@dataclass(frozen=True)
class KeywordQuery:
    """What the full-text arm looks for: the question's subject words (letters and digits only, so user input
    cannot inject tsquery syntax) and the text-search configurations to stem them with."""

    words: tuple[str, ...]
    configs: tuple[str, ...]


@dataclass(frozen=True)
class RetrievalScope:
    """What to search among the files the caller may read: the files named, the files of the knowledge bases
    named, and (with `conversation_id`) the files uploaded to that conversation and of the knowledge bases
    attached to it. `everything` searches every readable file. An empty scope searches nothing."""

    file_ids: Sequence[uuid.UUID] = ()
    knowledge_base_ids: Sequence[uuid.UUID] = ()
    conversation_id: uuid.UUID | None = None
    everything: bool = False

    @property
    def is_empty(self) -> bool:
        return not (self.file_ids or self.knowledge_base_ids or self.conversation_id or self.everything)


@dataclass(frozen=True)
class RetrievedChunk:
    chunk_id: uuid.UUID
    file_id: uuid.UUID
    filename: str
    chunk_index: int
    page: int | None
    sheet: str | None
    heading: str | None
    text: str
    # Reads like instructions to the model: must be fenced as quoted data in a prompt.
    injection_flagged: bool
    # Tokens of `text` by the embedder's tokenizer (what a prompt budget counts).
    token_count: int
    # Reciprocal-rank-fusion score (higher is better); 0 for whole-document reads.
    score: float


def keyword_query(question: str) -> KeywordQuery:
    """The subject words of `question` and how to stem them. A question whose language is recognised is
    stemmed as that language; one too short to tell (a bare "warranty ZX-9000?") is stemmed as every language
    chunks are indexed in, so it still meets "warranties" in an English chunk and "Garantie" in a German one.
    `simple` is always among the configurations: names, codes and numbers match as written whatever the
    language of the chunk."""
    language = detect_language(question, minimum_hits=1)
    stop = FUNCTION_WORDS[language] if language else frozenset().union(*FUNCTION_WORDS.values())
    words: list[str] = []
    for word in _WORD.findall(question.lower()):
        if word in stop or word in _QUESTION_WORDS or (len(word) < 2 and not word.isdigit()) or word in words:
            continue
        words.append(word)
    configs = (language, UNSTEMMED) if language else (*LANGUAGES, UNSTEMMED)
    return KeywordQuery(words=tuple(words[:_MAX_QUERY_WORDS]), configs=configs)


def _filter(user_id: uuid.UUID, role: str, scope: RetrievalScope) -> repository.Filter:
    return repository.Filter(
        user_id=user_id,
        role=role,
        file_ids=scope.file_ids,
        knowledge_base_ids=scope.knowledge_base_ids,
        conversation_id=scope.conversation_id,
        everything=scope.everything,
    )


def _chunk(row: dict[str, Any]) -> RetrievedChunk:
    return RetrievedChunk(
        chunk_id=row["chunk_id"],
        file_id=row["file_id"],
        filename=row["filename"],
        chunk_index=row["chunk_index"],
        page=row["page"],
        sheet=row["sheet"],
        heading=row["heading"],
        text=row["text"],
        injection_flagged=row["injection_flagged"],
        token_count=row["token_count"],
        score=float(row["score"]),
    )


async def _opened(row: dict[str, Any]) -> RetrievedChunk:
    """A chunk with its text opened (sealed with its file owner's data key, README "Encryption at rest")."""
    row["text"] = await sealed.open_text(row["text"], context=sealed.chunk_context(row["chunk_id"]))
    row["filename"] = await sealed.open_file_name(row["file_id"], row["filename"], row["filename_sealed"])
    return _chunk(row)


async def search_by_vector(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    role: str,
    query: str,
    query_vector: Sequence[float] | None,
    scope: RetrievalScope,
    top_k: int,
    settings: RagSettings,
) -> list[RetrievedChunk]:
    """`search` with the question already embedded (benchmarks, and callers that embed in batches); without a
    vector (`PARLEY_RAG__VECTORS=false`) by keyword only."""
    if scope.is_empty or top_k < 1:
        return []
    await repository.tune_vector_search(session, ef_search=max(settings.hnsw_ef_search, settings.candidates))
    keywords = keyword_query(query)
    index_key = await sealed.key_for(None)
    tokens = (
        sealed.query_document_terms(index_key, keywords.words, keywords.configs)
        if index_key
        else sealed.QueryTokens([], [], [])
    )
    rows = await repository.hybrid_search(
        session,
        _filter(user_id, role, scope),
        query_vector=query_vector,
        keyword_tokens=tokens,
        candidates=max(settings.candidates, top_k),
        rrf_k=settings.rrf_k,
        vector_weight=settings.vector_weight if query_vector is not None else 0.0,
        keyword_weight=settings.keyword_weight,
        top_k=top_k,
    )
    return [await _opened(row) for row in rows]


async def search(
    session: AsyncSession,
    embedder: Embedder,
    *,
    user_id: uuid.UUID,
    role: str,
    query: str,
    scope: RetrievalScope,
    top_k: int,
    settings: RagSettings,
) -> list[RetrievedChunk]:
    """The `top_k` chunks best matching `query` among the readable files in `scope`, best first."""
    if scope.is_empty or top_k < 1 or not query.strip():
        return []
    with tracing.span("retrieval.search", {"parley.top_k": top_k}) as span:
        query_vector = await embedder.embed_query(query) if settings.vectors else None
        chunks = await search_by_vector(
            session,
            user_id=user_id,
            role=role,
            query=query,
            query_vector=query_vector,
            scope=scope,
            top_k=top_k,
            settings=settings,
        )
        span.set_attribute("parley.chunks", len(chunks))
    return chunks


async def pending_files(session: AsyncSession, *, user_id: uuid.UUID, role: str, scope: RetrievalScope) -> list[str]:
    """Names of the readable files in `scope` still waiting to be read (pending or processing)."""
    if scope.is_empty:
        return []
    files = await repository.pending_files(session, _filter(user_id, role, scope))
    return sorted([await sealed.open_file_name(file_id, name, name_sealed) for file_id, name, name_sealed in files])


async def readable_file_chunks(
    session: AsyncSession, *, user_id: uuid.UUID, role: str, file_id: uuid.UUID
) -> list[RetrievedChunk]:
    """Every chunk of one readable file in document order (for summarising a whole document). NotFound when the
    caller may not read the file; an empty list while it is not yet ready."""
    where = repository.Filter(user_id=user_id, role=role)
    if not await repository.file_is_readable(session, where, file_id):
        raise NotFound("file not found")
    return [await _opened(row) for row in await repository.file_chunks(session, where, file_id)]
