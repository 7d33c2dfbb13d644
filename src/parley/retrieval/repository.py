"""The SQL of retrieval: one statement per search, with the access filter inside both arms.

Hybrid search = pgvector HNSW (cosine) top-N + PostgreSQL full-text top-N (stemmed per language, scored
BM25-style), fused by weighted reciprocal rank fusion: score(chunk) = sum over the arms that found it of
weight of the arm / (rrf_k + rank in that arm). The access filter (which files
the caller may read) and the scope (which of those this search is about) are CTEs both arms use, so a chunk the
caller cannot read is never a candidate and never takes a candidate's place.

The HNSW arm relies on pgvector >= 0.8 iterative index scans (`hnsw.iterative_scan = relaxed_order`, set per
transaction by the caller): the index is walked in distance order and the access filter applied as it goes, and
the walk continues until enough readable rows were found. Without it a filter that keeps few rows would leave
the HNSW arm with fewer than N hits. `relaxed_order` may return rows slightly out of order, so the arm is
materialised and re-sorted by distance before ranking.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import BindParameter, Float, Integer, LargeBinary, TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from parley.crypto.content import QueryTokens
from parley.models import EMBEDDING_DIMENSIONS

# Files the caller may read: own, uploaded into one of the caller's conversations, or in a knowledge base the
# caller owns or was granted (by user id, by role or through a group they belong to). Then narrowed by the
# scope, and to files ready for search.
VISIBLE_FILES_CTE = """
readable_knowledge_bases AS (
    SELECT kb.id FROM knowledge_bases kb WHERE kb.owner_id = :user_id
    UNION
    SELECT g.knowledge_base_id FROM knowledge_base_grants g
    WHERE g.user_id = :user_id
       OR g.role = :role
       OR g.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = :user_id)
),
readable_files AS (
    SELECT f.id FROM files f WHERE f.user_id = :user_id
    UNION
    SELECT f.id FROM files f JOIN conversations c ON c.id = f.conversation_id WHERE c.user_id = :user_id
    UNION
    SELECT kbf.file_id FROM knowledge_base_files kbf
    WHERE kbf.knowledge_base_id IN (SELECT id FROM readable_knowledge_bases)
),
scope_files AS (
    SELECT unnest(CAST(:file_ids AS uuid[])) AS id
    UNION
    SELECT f.id FROM files f WHERE f.conversation_id = :conversation_id
    UNION
    SELECT kbf.file_id FROM knowledge_base_files kbf
    WHERE kbf.knowledge_base_id = ANY(CAST(:knowledge_base_ids AS uuid[]))
       OR kbf.knowledge_base_id IN (
           SELECT ckb.knowledge_base_id FROM conversation_knowledge_bases ckb
           WHERE ckb.conversation_id = :conversation_id
       )
),
visible_files AS MATERIALIZED (
    SELECT f.id, f.filename, f.filename_sealed, f.chunk_count FROM files f
    WHERE f.status = 'ready'
      AND f.id IN (SELECT id FROM readable_files)
      AND (:everything OR f.id IN (SELECT id FROM scope_files))
)"""

# The membership test `file_id IN (SELECT …)` is wrapped in `IS TRUE` so the planner keeps it as a hashed
# filter on the index scan instead of turning it into a join, which would lose the index's distance order
# (and make the HNSW arm a sort of every readable chunk).
#
# The keyword arm scores BM25-style: sum over the question's words of idf(word) * saturation(tf). A word is the
# OR of its forms (its stem in each configuration of `text_configs`, e.g. the question's language and `simple`
# for names and codes); a chunk, indexed in its own language, holds one of them or none. Since encryption at rest
# (README, "Encryption at rest") a chunk holds blind-index tokens of its words and stems (`search_terms`, keyed
# hashes the database cannot reverse) instead of a tsvector, and the question arrives as the same tokens
# (`keyword_terms`: which question word each token is a form of). A chunk's tokens record a form and whether it
# occurs twice, three times or more (`2|form`, `3|form`), so the saturation is ts_rank's for one, two, three
# occurrences (`keyword_saturations`), capped there: beyond three it no longer grows (ts_rank's did, slowly).
# idf comes from the chunks in scope that hold the word (all of them are matched anyway) against all chunks in
# scope (the files' chunk_count: counting the chunks themselves cost more than the rest of the search), so a word
# most chunks contain ("use") weighs next to nothing and a rare one decides. Saturation is ts_rank of the single
# form with unit weights: 1/1.64 · sum over occurrences j of 1/j², which grows with tf but flattens quickly
# (0.61, 0.76, 0.83 … 1), like BM25's tf/(tf + k1). Each arm then contributes weight / (rrf_k + rank), the
# keyword arm's weight scaled by the square of the chunk's coverage of the question (the share of the
# question's idf it holds, words found nowhere in scope included): a chunk that shares one common or stray word
# with the question (often the case across languages) barely counts, one that holds all its rare words counts
# fully. Squared, not linear: linear coverage still let stray matches pull the cross-lingual sets below the
# dense arm (bench/README.md, "Search quality"). A chunk the vector arm did not return is ranked there as if
# just past its last candidate, not as absent: otherwise a chunk only the words find (an error code the vectors
# miss) could never outscore the vector arm's 8th candidate, however well it matched.
HYBRID_SEARCH = f"""
WITH {VISIBLE_FILES_CTE},
vector_candidates AS MATERIALIZED (
    SELECT ch.id, ch.embedding <=> :query_vector AS distance
    FROM file_chunks ch
    WHERE (ch.file_id IN (SELECT id FROM visible_files)) IS TRUE
      AND CAST(:vector_weight AS float8) > 0
    ORDER BY ch.embedding <=> :query_vector
    LIMIT :candidates
),
vector_ranked AS (
    SELECT id, row_number() OVER (ORDER BY distance, id) AS rank FROM vector_candidates
),
keyword_forms AS MATERIALIZED (
    SELECT forms.term, forms.token, forms.saturation
    FROM unnest(
        CAST(:keyword_terms AS int[]), CAST(:keyword_tokens AS bytea[]), CAST(:keyword_saturations AS float8[])
    ) AS forms(term, token, saturation)
    WHERE CAST(:keyword_weight AS float8) > 0
),
keyword_matches AS MATERIALIZED (
    SELECT ch.id, ch.search_terms
    FROM file_chunks ch
    WHERE ch.search_terms && (SELECT array_agg(token) FROM keyword_forms)
      AND (ch.file_id IN (SELECT id FROM visible_files)) IS TRUE
),
keyword_hits AS (
    SELECT m.id, f.term, max(f.saturation) AS saturation
    FROM keyword_matches m JOIN keyword_forms f ON f.token = ANY(m.search_terms)
    GROUP BY m.id, f.term
),
keyword_terms AS (
    SELECT DISTINCT term FROM keyword_forms
),
keyword_idf AS (
    SELECT t.term, ln(1 + (greatest(n.chunks, count(h.id)) - count(h.id) + 0.5) / (count(h.id) + 0.5)) AS idf
    FROM keyword_terms t
    CROSS JOIN (SELECT coalesce(sum(chunk_count), 0) AS chunks FROM visible_files) n
    LEFT JOIN keyword_hits h ON h.term = t.term
    GROUP BY t.term, n.chunks
),
keyword_scored AS (
    SELECT h.id, sum(i.idf * h.saturation) AS score,
           sum(i.idf) / (SELECT sum(idf) FROM keyword_idf) AS coverage
    FROM keyword_hits h JOIN keyword_idf i ON i.term = h.term
    GROUP BY h.id
),
keyword_ranked AS (
    SELECT id, coverage, row_number() OVER (ORDER BY score DESC, id) AS rank
    FROM keyword_scored
    ORDER BY rank
    LIMIT :candidates
),
vector_missing AS (
    SELECT k.id, (SELECT count(*) FROM vector_ranked) + 1 AS rank
    FROM keyword_ranked k
    WHERE CAST(:vector_weight AS float8) > 0 AND k.id NOT IN (SELECT id FROM vector_ranked)
),
fused AS (
    SELECT id, sum(weight / (:rrf_k + rank)) AS score, min(rank) AS best_rank
    FROM (
        SELECT id, rank, CAST(:vector_weight AS float8) AS weight FROM vector_ranked
        UNION ALL
        SELECT id, rank, CAST(:vector_weight AS float8) AS weight FROM vector_missing
        UNION ALL
        SELECT id, rank, CAST(:keyword_weight AS float8) * coverage * coverage AS weight FROM keyword_ranked
    ) AS both_arms
    GROUP BY id
    ORDER BY score DESC, best_rank, id
    LIMIT :top_k
)
SELECT ch.id AS chunk_id, ch.file_id, vf.filename, vf.filename_sealed, ch.chunk_index, ch.page, ch.sheet,
       ch.heading, ch.text, ch.injection_flagged, ch.token_count, fused.score
FROM fused
JOIN file_chunks ch ON ch.id = fused.id
JOIN visible_files vf ON vf.id = ch.file_id
ORDER BY fused.score DESC, fused.best_rank, ch.id
"""  # noqa: S608 (composed of constants; values are bind parameters)

_FILE_CHUNKS = f"""
WITH {VISIBLE_FILES_CTE}
SELECT ch.id AS chunk_id, ch.file_id, vf.filename, vf.filename_sealed, ch.chunk_index, ch.page, ch.sheet,
       ch.heading, ch.text, ch.injection_flagged, ch.token_count, 0.0 AS score
FROM file_chunks ch
JOIN visible_files vf ON vf.id = ch.file_id
WHERE ch.file_id = :file_id
ORDER BY ch.chunk_index
"""  # noqa: S608 (constants only)

_FILE_IS_READABLE = f"""
WITH {VISIBLE_FILES_CTE.replace("f.status = 'ready'", "TRUE")}
SELECT EXISTS (SELECT 1 FROM visible_files WHERE id = :file_id)
"""  # noqa: S608 (constants only)

# Files of the scope the caller may read that are still being read (the chat waits for them, bounded).
_PENDING_FILES = f"""
WITH {VISIBLE_FILES_CTE.replace("f.status = 'ready'", "f.status IN ('pending', 'processing')")}
SELECT f.id, f.filename, f.filename_sealed FROM files f WHERE f.id IN (SELECT id FROM visible_files)
"""  # noqa: S608 (constants only)

PARAMETER_TYPES = (
    bindparam("file_ids", type_=ARRAY(UUID(as_uuid=True))),
    bindparam("knowledge_base_ids", type_=ARRAY(UUID(as_uuid=True))),
    bindparam("conversation_id", type_=UUID(as_uuid=True)),
    bindparam("user_id", type_=UUID(as_uuid=True)),
)


@dataclass(frozen=True)
class Filter:
    """Whose access, and which of the readable files (`everything`: all of them)."""

    user_id: uuid.UUID
    role: str
    file_ids: Sequence[uuid.UUID] = ()
    knowledge_base_ids: Sequence[uuid.UUID] = ()
    conversation_id: uuid.UUID | None = None
    everything: bool = False

    def parameters(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "role": self.role,
            "file_ids": list(self.file_ids),
            "knowledge_base_ids": list(self.knowledge_base_ids),
            "conversation_id": self.conversation_id,
            "everything": self.everything,
        }


async def tune_vector_search(session: AsyncSession, *, ef_search: int, max_scan_tuples: int = 20_000) -> None:
    """Settings of the HNSW scans for the rest of this transaction (like SET LOCAL, but with bind parameters)."""
    await session.execute(
        text(
            "SELECT set_config('hnsw.ef_search', :ef, true), set_config('hnsw.iterative_scan', 'relaxed_order', true),"
            " set_config('hnsw.max_scan_tuples', :max_tuples, true)"
        ),
        {"ef": str(ef_search), "max_tuples": str(max_scan_tuples)},
    )


def keyword_parameters(query: QueryTokens) -> dict[str, Any]:
    return {"keyword_terms": query.terms, "keyword_tokens": query.tokens, "keyword_saturations": query.saturations}


def vector_bind() -> BindParameter[Any]:
    return bindparam("query_vector", type_=Vector(EMBEDDING_DIMENSIONS))


def hybrid_search_statement(*, explain: bool = False) -> TextClause:
    """The hybrid search with its parameter types; `explain` runs it under EXPLAIN ANALYZE (benchmarks)."""
    return text(("EXPLAIN (ANALYZE, COSTS OFF) " if explain else "") + HYBRID_SEARCH).bindparams(
        *PARAMETER_TYPES,
        vector_bind(),
        bindparam("keyword_terms", type_=ARRAY(Integer())),
        bindparam("keyword_tokens", type_=ARRAY(LargeBinary())),
        bindparam("keyword_saturations", type_=ARRAY(Float())),
    )


async def hybrid_search(
    session: AsyncSession,
    where: Filter,
    *,
    query_vector: Sequence[float] | None,
    keyword_tokens: QueryTokens,
    candidates: int,
    rrf_k: int,
    vector_weight: float,
    keyword_weight: float,
    top_k: int,
) -> list[dict[str, Any]]:
    """The fused top `top_k`. `keyword_tokens` are the blind-index tokens of the question's words' forms
    (`parley.crypto.content.query_document_terms`). Chunk text comes back as stored (sealed): the caller opens
    it."""
    rows = await session.execute(
        hybrid_search_statement(),
        {
            **where.parameters(),
            "query_vector": list(query_vector) if query_vector is not None else None,
            **keyword_parameters(keyword_tokens),
            "candidates": candidates,
            "rrf_k": rrf_k,
            "vector_weight": vector_weight,
            "keyword_weight": keyword_weight,
            "top_k": top_k,
        },
    )
    return [dict(row) for row in rows.mappings()]


async def file_is_readable(session: AsyncSession, where: Filter, file_id: uuid.UUID) -> bool:
    statement = text(_FILE_IS_READABLE).bindparams(*PARAMETER_TYPES, bindparam("file_id", type_=UUID(as_uuid=True)))
    return bool(await session.scalar(statement, {**where.parameters(), "everything": True, "file_id": file_id}))


async def file_chunks(session: AsyncSession, where: Filter, file_id: uuid.UUID) -> list[dict[str, Any]]:
    statement = text(_FILE_CHUNKS).bindparams(*PARAMETER_TYPES, bindparam("file_id", type_=UUID(as_uuid=True)))
    rows = await session.execute(statement, {**where.parameters(), "everything": True, "file_id": file_id})
    return [dict(row) for row in rows.mappings()]


async def pending_files(session: AsyncSession, where: Filter) -> list[tuple[uuid.UUID, str, bytes | None]]:
    """(id, filename, filename_sealed) of each file still being read."""
    statement = text(_PENDING_FILES).bindparams(*PARAMETER_TYPES)
    return [(row.id, row.filename, row.filename_sealed) for row in await session.execute(statement, where.parameters())]
