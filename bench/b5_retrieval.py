"""B5 — hybrid retrieval over 100,000 chunks: latency (p50/p95) of top-10 hybrid search through the real code path
(`retrieval.service.search_by_vector`: access filter + scope in SQL, HNSW arm + full-text arm, RRF), and recall@10
of the HNSW arm against an exact (sequential-scan) vector search with the same access filter.

Data (synthetic, built to behave like real embeddings and real text; see bench/README.md):
- vectors: 384-d, hierarchical clusters: a shared direction (real sentence embeddings are anisotropic: unrelated
  sentences still have cosine ~0.1-0.2), 20 super-topics, 200 topics, a direction per document (chunks of one
  file resemble each other), and per-chunk noise that lives mostly in a 64-d subspace (real embeddings have a low
  intrinsic dimension). Random unit vectors would have no neighbourhood structure at all, and isotropic 384-d
  noise makes every neighbour nearly equidistant (recall then measures ties, not the index).
- text: ~220 words per chunk — English function words, a Zipf-distributed general vocabulary of 6,000 words and
  the chunk's topic words, plus a product code in one chunk of five — so the GIN posting lists have realistic
  lengths (common words match thousands of chunks).
- access: 40 users, 2,000 files of 50 chunks, 40 knowledge bases of 25 files; the measured user owns ~50 files
  and is granted 6 knowledge bases by user id and 2 by role: ~12 % of the chunks are readable. A second profile
  (an admin who only owns ~50 files, ~2.5 % readable) shows the narrow-filter case.
- queries: 200 per profile; each aims at a readable chunk: its vector plus noise of the same low-rank kind,
  and a question made of stop words, two of its topic words and one rarer word.

Run: `.venv/bin/python bench/b5_retrieval.py` (about 3-5 minutes on 2 cores; `--chunks` for a smaller run,
`--explain` to print the query plan).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector
from sqlalchemy import text

from parley.config import RagSettings, Settings
from parley.crypto import content as sealed
from parley.db import Database, asyncpg_dsn, create_engine, start_embedded_postgres
from parley.migrations.runner import upgrade_to_head
from parley.retrieval import repository
from parley.retrieval.service import RetrievalScope, keyword_query, search_by_vector

DIMENSIONS = 384
CHUNKS_PER_FILE = 50
USERS = 40
KNOWLEDGE_BASES = 40
FILES_PER_KNOWLEDGE_BASE = 25
TOPICS, SUPER_TOPICS = 200, 20
QUERIES = 200
_FUNCTION_WORD_TEXT = "the of and to in a is that for it as with was on be by this are or from at an which have"
FUNCTION_WORDS = _FUNCTION_WORD_TEXT.split()

# The HNSW arm as retrieval runs it (relaxed-order iterative scan, re-sorted by distance), on its own.
_VECTOR_ARM = f"""
WITH {repository.VISIBLE_FILES_CTE},
arm AS MATERIALIZED (
    SELECT ch.id, ch.embedding <=> :query_vector AS distance FROM file_chunks ch
    WHERE (ch.file_id IN (SELECT id FROM visible_files)) IS TRUE
    ORDER BY ch.embedding <=> :query_vector
    LIMIT :limit
)
SELECT id FROM arm ORDER BY distance
"""  # noqa: S608 (constants only)


def pseudo_words(rng: random.Random, count: int, syllables: tuple[int, int]) -> list[str]:
    consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"
    words: set[str] = set()
    while len(words) < count:
        words.add(
            "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(*syllables)))
            + rng.choice(["", "n", "s", "r", "t"])
        )
    return sorted(words)


class Corpus:
    """Topic structure shared by the chunk texts and vectors."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        vocabulary = pseudo_words(self.rng, 6_000 + TOPICS * 12, (2, 4))
        self.rng.shuffle(vocabulary)
        self.general = vocabulary[:6_000]
        self.topic_words = [vocabulary[6_000 + t * 12 : 6_000 + (t + 1) * 12] for t in range(TOPICS)]
        ranks = np.arange(1, len(self.general) + 1)
        self.zipf = (1 / ranks) / (1 / ranks).sum()
        unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
        self.shared = unit(self.np_rng.standard_normal(DIMENSIONS))
        self.supers = unit(self.np_rng.standard_normal((SUPER_TOPICS, DIMENSIONS)))
        self.topics = unit(self.np_rng.standard_normal((TOPICS, DIMENSIONS)))
        self.basis = np.linalg.qr(self.np_rng.standard_normal((DIMENSIONS, 64)))[0]

    def vectors(self, topics: np.ndarray, files: np.ndarray) -> np.ndarray:
        """Topic and document directions plus noise that lives mostly in a 64-d subspace: real sentence embeddings
        have a low intrinsic dimension, and isotropic 384-d noise would make every neighbour nearly equidistant."""
        base = 0.3 * self.shared + 0.45 * self.supers[topics % SUPER_TOPICS] + 0.65 * self.topics[topics]
        base += 0.45 * self.file_direction(files)
        return self._normalised(base + self.noise(len(topics), low_rank=0.55, isotropic=0.15))

    def file_direction(self, files: np.ndarray) -> np.ndarray:
        """Chunks of one document resemble each other: a direction per file (drawn reproducibly from its index)."""
        return np.stack(
            [self._normalised(np.random.default_rng(10_000 + int(f)).standard_normal(DIMENSIONS)) for f in files]
        )

    def noise(self, count: int, *, low_rank: float, isotropic: float) -> np.ndarray:
        structured = self.np_rng.standard_normal((count, self.basis.shape[1])) @ self.basis.T
        structured *= low_rank / np.sqrt(self.basis.shape[1])
        return structured + self.np_rng.standard_normal((count, DIMENSIONS)) * (isotropic / np.sqrt(DIMENSIONS))

    @staticmethod
    def _normalised(vectors: np.ndarray) -> np.ndarray:
        out: np.ndarray = (vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)).astype(np.float32)
        return out

    def text(self, topic: int) -> str:
        general = self.np_rng.choice(self.general, size=130, p=self.zipf)
        words = [*general, *self.rng.choices(FUNCTION_WORDS, k=60), *self.rng.choices(self.topic_words[topic], k=30)]
        self.rng.shuffle(words)
        if self.rng.random() < 0.2:
            words.insert(self.rng.randrange(len(words)), f"ZX-{self.rng.randrange(100_000)}")
        return " ".join(words)


async def build(connection: asyncpg.Connection, chunks: int, corpus: Corpus) -> dict[str, Any]:
    rng = corpus.rng
    users = [uuid.uuid4() for _ in range(USERS)]
    roles = ["user"] * USERS
    roles[1] = "admin"  # the narrow profile: no role grants reach it
    await connection.executemany(
        "INSERT INTO users (id, email, role) VALUES ($1, $2, $3)",
        [(u, f"u{i}@bench.test", roles[i]) for i, u in enumerate(users)],
    )
    file_count = chunks // CHUNKS_PER_FILE
    files = [uuid.uuid4() for _ in range(file_count)]
    owners = [users[i % USERS] for i in range(file_count)]
    file_topics = [rng.randrange(TOPICS) for _ in range(file_count)]
    await connection.executemany(
        "INSERT INTO files (id, user_id, filename, file_type, file_size, storage_key, status, chunk_count)"
        " VALUES ($1, $2, $3, 'txt', 1000, $4, 'ready', $5)",
        [(f, owners[i], f"doc-{i}.txt", f"k/{f}", CHUNKS_PER_FILE) for i, f in enumerate(files)],
    )
    knowledge_bases = [uuid.uuid4() for _ in range(KNOWLEDGE_BASES)]
    await connection.executemany(
        "INSERT INTO knowledge_bases (id, owner_id, name) VALUES ($1, $2, $3)",
        [(kb, users[2 + i % (USERS - 2)], f"kb {i}") for i, kb in enumerate(knowledge_bases)],
    )
    members = {(kb, f) for kb in knowledge_bases for f in rng.sample(files, FILES_PER_KNOWLEDGE_BASE)}
    await connection.executemany(
        "INSERT INTO knowledge_base_files (knowledge_base_id, file_id) VALUES ($1, $2)", members
    )
    grants: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None, str | None]]
    grants = [(uuid.uuid4(), kb, users[0], None) for kb in knowledge_bases[:6]]
    grants += [(uuid.uuid4(), kb, None, "user") for kb in knowledge_bases[6:8]]
    await connection.executemany(
        "INSERT INTO knowledge_base_grants (id, knowledge_base_id, user_id, role, permission)"
        " VALUES ($1, $2, $3, $4, 'read')",
        grants,
    )
    # Indexes are built once after the load (as a re-index would), not row by row.
    await connection.execute("DROP INDEX ix_file_chunks_embedding_hnsw; DROP INDEX ix_file_chunks_text_search")
    started = time.perf_counter()
    targets: dict[uuid.UUID, list[tuple[uuid.UUID, np.ndarray, str, int]]] = {}
    batch_files = 100
    for start in range(0, file_count, batch_files):
        batch = range(start, min(start + batch_files, file_count))
        topics = np.array([file_topics[i] for i in batch for _ in range(CHUNKS_PER_FILE)])
        vectors = corpus.vectors(topics, np.array([i for i in batch for _ in range(CHUNKS_PER_FILE)]))
        records = []
        for n, (i, c) in enumerate((i, c) for i in batch for c in range(CHUNKS_PER_FILE)):
            chunk_id, body = uuid.uuid4(), corpus.text(file_topics[i])
            records.append((chunk_id, files[i], owners[i], c, body, 300, vectors[n]))
            if rng.random() < 0.02:
                targets.setdefault(files[i], []).append((chunk_id, vectors[n], body, file_topics[i]))
        await connection.copy_records_to_table(
            "file_chunks",
            records=records,
            columns=["id", "file_id", "user_id", "chunk_index", "text", "token_count", "embedding"],
        )
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    await connection.execute("SET maintenance_work_mem = '1GB'")
    await connection.execute(
        "CREATE INDEX ix_file_chunks_embedding_hnsw ON file_chunks USING hnsw (embedding vector_cosine_ops)"
        " WITH (m = 16, ef_construction = 64)"
    )
    hnsw_seconds = time.perf_counter() - started
    started = time.perf_counter()
    await connection.execute("CREATE INDEX ix_file_chunks_text_search ON file_chunks USING gin (text_search)")
    gin_seconds = time.perf_counter() - started
    await connection.execute("VACUUM ANALYZE")
    return {
        "users": users,
        "files": files,
        "owners": owners,
        "knowledge_bases": knowledge_bases,
        "members": members,
        "grants": grants,
        "targets": targets,
        "timings": (loaded, hnsw_seconds, gin_seconds),
    }


def readable_targets(data: dict[str, Any], user_index: int, role: str) -> tuple[list[tuple[Any, ...]], int]:
    user = data["users"][user_index]
    granted = {kb for _, kb, u, r in data["grants"] if u == user or r == role}
    readable = {f for f, owner in zip(data["files"], data["owners"], strict=True) if owner == user}
    readable |= {f for kb, f in data["members"] if kb in granted}
    return [t for f in readable for t in data["targets"].get(f, [])], len(readable)


def make_query(corpus: Corpus, target: tuple[Any, ...]) -> tuple[str, np.ndarray, uuid.UUID]:
    chunk_id, vector, body, topic = target
    rng = corpus.rng
    rare = max((w for w in body.split() if w in corpus.general), key=corpus.general.index)
    question = f"what is the {' '.join(rng.sample(corpus.topic_words[topic], 2))} of {rare} in this"
    noisy = vector + corpus.noise(1, low_rank=0.35, isotropic=0.1)[0]
    return question, noisy / np.linalg.norm(noisy), chunk_id


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(database: Database, corpus: Corpus, data: dict[str, Any], profile: str, explain: bool) -> None:
    user_index, role = (0, "user") if profile == "broad" else (1, "admin")
    user_id = data["users"][user_index]
    targets, readable_files = readable_targets(data, user_index, role)
    if not targets:
        print(f"{profile:>6}: no readable chunk was sampled as a target (use more --chunks)")
        return
    queries = [make_query(corpus, corpus.rng.choice(targets)) for _ in range(QUERIES)]
    settings = RagSettings()
    scope = RetrievalScope(everything=True)
    where = repository.Filter(user_id=user_id, role=role, everything=True)
    arm = text(_VECTOR_ARM).bindparams(*repository.PARAMETER_TYPES, repository.vector_bind())
    latencies, recalls, target_hits = [], [], 0
    for n, (question, vector, target_id) in enumerate(queries):
        async with database.session() as session:
            started = time.perf_counter()
            found = await search_by_vector(
                session,
                user_id=user_id,
                role=role,
                query=question,
                query_vector=vector.tolist(),
                scope=scope,
                top_k=10,
                settings=settings,
            )
            if n >= 5:  # the first few warm the caches
                latencies.append((time.perf_counter() - started) * 1000)
        target_hits += any(c.chunk_id == target_id for c in found)
        parameters = {**where.parameters(), "query_vector": vector.tolist(), "limit": settings.candidates}
        async with database.session() as session:
            await repository.tune_vector_search(session, ef_search=settings.hnsw_ef_search)
            approximate = list((await session.scalars(arm, parameters)).all())[:10]
        async with database.session() as session:
            await session.execute(text("SET LOCAL enable_indexscan = off"))
            await session.execute(text("SET LOCAL enable_bitmapscan = off"))
            exact = list((await session.scalars(arm, {**parameters, "limit": 10})).all())
        recalls.append(len(set(approximate) & set(exact)) / max(1, len(exact)))
    readable_share = readable_files / len(data["files"])
    print(
        f"{profile:>6}: readable {readable_share:.1%} of files | hybrid top-10 p50 {percentile(latencies, 0.5):.1f} ms"
        f" p95 {percentile(latencies, 0.95):.1f} ms (mean {statistics.fmean(latencies):.1f}) | HNSW-arm recall@10"
        f" {statistics.fmean(recalls):.3f} ({sum(r < 0.5 for r in recalls)} queries below 0.5) | target chunk in"
        " hybrid top-10:"
        f" {target_hits / len(queries):.0%}"
    )
    if explain:
        question, vector, _ = queries[0]
        async with database.session() as session:
            await repository.tune_vector_search(session, ef_search=settings.hnsw_ef_search)
            plan = await session.execute(
                repository.hybrid_search_statement(explain=True),
                {
                    **where.parameters(),
                    "query_vector": vector.tolist(),
                    **_keyword_tokens(await sealed.key_for(None), keyword_query(question)),
                    "candidates": settings.candidates,
                    "rrf_k": settings.rrf_k,
                    "vector_weight": settings.vector_weight,
                    "keyword_weight": settings.keyword_weight,
                    "top_k": 10,
                },
            )
            print("\n".join(row[0] for row in plan))


def _keyword_tokens(key: Any, keywords: Any) -> dict[str, Any]:
    """The question's blind-index tokens (README, "Encryption at rest"), as the search binds them."""
    tokens = (
        sealed.query_document_terms(key, keywords.words, keywords.configs) if key else sealed.QueryTokens([], [], [])
    )
    return repository.keyword_parameters(tokens)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of one hybrid search")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parley-b5-") as scratch:
        embedded = await asyncio.to_thread(start_embedded_postgres, Path(scratch), "bench")
        try:
            settings = Settings(database_url=embedded.url, data_dir=Path(scratch))
            database = Database(create_engine(embedded.url, settings))
            await upgrade_to_head(database.engine)
            corpus = Corpus(args.seed)
            connection = await asyncpg.connect(asyncpg_dsn(embedded.url))
            await register_vector(connection)
            started = time.perf_counter()
            data = await build(connection, args.chunks, corpus)
            await connection.close()
            loaded, hnsw_seconds, gin_seconds = data["timings"]
            print(
                f"{args.chunks:,} chunks: generated + COPY {loaded:.0f} s, HNSW build {hnsw_seconds:.0f} s,"
                f" GIN build {gin_seconds:.0f} s (total {time.perf_counter() - started:.0f} s)"
            )
            for profile in ("broad", "narrow"):
                await measure(database, corpus, data, profile, args.explain)
            await database.dispose()
        finally:
            await asyncio.to_thread(embedded.stop)


if __name__ == "__main__":
    asyncio.run(main())
