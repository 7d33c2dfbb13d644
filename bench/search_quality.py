"""Ranking quality of document search: dense-only, keyword-only and hybrid, per language, through the real code
path (`retrieval.service.search_by_vector` on an embedded PostgreSQL, chunks written as ingestion writes them,
so each gets its language and full-text vector the way an upload does).

The evaluation sets come from the manual pages Debian ships in English, German and Spanish (see
bench/search_corpus.py): per language, every page's NAME summary is a question whose answer is the start of
its DESCRIPTION, among all the pages of that language. `de>en` and `es>en` ask the German and Spanish questions
for the English passages (cross-lingual). Printed per set and mode: recall@1, recall@5 and MRR@10.

    .venv/bin/python bench/search_quality.py [--sets FILE.json] [--hybrid W[:K] ...]

Without --sets the sets are built from the installed manual pages (two to three minutes) and kept in
/tmp/parley-search-sets.json; passage vectors are kept in /tmp/parley-search-vectors.npz between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import tempfile
import uuid
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from parley.config import EmbeddingSettings, RagSettings, Settings
from parley.db import Database, create_engine, start_embedded_postgres
from parley.embeddings import Embedder, create_embedder
from parley.migrations.runner import upgrade_to_head
from parley.models import File, FileChunk, KnowledgeBase, KnowledgeBaseFile, User
from parley.retrieval.service import RetrievalScope, search_by_vector

SETS_CACHE = Path(tempfile.gettempdir()) / "parley-search-sets.json"
VECTORS_CACHE = Path(tempfile.gettempdir()) / "parley-search-vectors.npz"
TOP_K = 10
# (set name, language of the questions, language of the haystack)
SETS = [("en", "en", "en"), ("de", "de", "de"), ("es", "es", "es"), ("de>en", "de", "en"), ("es>en", "es", "en")]


def load_sets(path: Path | None) -> dict[str, list[dict[str, str]]]:
    if path is not None:
        return dict(json.loads(path.read_text()))
    if not SETS_CACHE.exists():
        import search_corpus  # bench/ is on sys.path when run as a script

        sets = search_corpus.build()
        SETS_CACHE.write_text(json.dumps({k: [vars(p) for p in v] for k, v in sets.items()}, ensure_ascii=False))
    return dict(json.loads(SETS_CACHE.read_text()))


async def embed_passages(embedder: Embedder, passages: list[str]) -> list[list[float]]:
    key = hashlib.sha256(("\0".join(passages) + embedder.name).encode()).hexdigest()
    if VECTORS_CACHE.exists():
        cached = np.load(VECTORS_CACHE)
        if str(cached["key"]) == key:
            return [list(map(float, row)) for row in cached["vectors"]]
    vectors = await embedder.embed_documents(passages)
    np.savez(VECTORS_CACHE, key=np.array(key), vectors=np.asarray(vectors, dtype=np.float32))
    return vectors


async def load(
    database: Database, embedder: Embedder, sets: dict[str, list[dict[str, str]]]
) -> tuple[uuid.UUID, dict[str, uuid.UUID], dict[tuple[str, str], uuid.UUID]]:
    """One user; per language a knowledge base with one file per page, whose single chunk is the passage."""
    user_id = uuid.uuid4()
    pages = [(language, page) for language, entries in sets.items() for page in entries]
    vectors = await embed_passages(embedder, [page["passage"] for _, page in pages])
    knowledge_bases = {language: uuid.uuid4() for language in sets}
    chunk_of: dict[tuple[str, str], uuid.UUID] = {}
    async with database.session() as session:
        session.add(User(id=user_id, email="search@bench.test", role="user"))
        await session.flush()
        for language, kb_id in knowledge_bases.items():
            session.add(KnowledgeBase(id=kb_id, owner_id=user_id, name=f"man pages ({language})"))
        await session.flush()
        rows = []
        for (language, page), vector in zip(pages, vectors, strict=True):
            file_id, chunk_id = uuid.uuid4(), uuid.uuid4()
            chunk_of[(language, page["page"])] = chunk_id
            session.add(
                File(
                    id=file_id,
                    user_id=user_id,
                    filename=f"{language}/{page['page']}",
                    file_type="txt",
                    file_size=len(page["passage"]),
                    storage_key=f"bench/{file_id}",
                    status="ready",
                    chunk_count=1,
                )
            )
            session.add(KnowledgeBaseFile(knowledge_base_id=knowledge_bases[language], file_id=file_id))
            rows.append(
                {
                    "id": chunk_id,
                    "file_id": file_id,
                    "user_id": user_id,
                    "chunk_index": 0,
                    "text": page["passage"],
                    "token_count": len(page["passage"].split()),
                    "embedding": vector,
                }
            )
        await session.flush()
        # As ingestion writes chunks (tasks.py: a bulk insert of dicts).
        await session.execute(insert(FileChunk), rows)
    return user_id, knowledge_bases, chunk_of


def summary(ranks: list[int | None]) -> str:
    count = len(ranks)
    recall1 = sum(r == 1 for r in ranks) / count
    recall5 = sum(r is not None and r <= 5 for r in ranks) / count
    mrr = sum(1 / r for r in ranks if r is not None) / count
    return f"R@1 {recall1:.3f}  R@5 {recall5:.3f}  MRR {mrr:.3f}"


async def evaluate(arguments: argparse.Namespace) -> None:
    sets = load_sets(arguments.sets)
    embedder = create_embedder(EmbeddingSettings())
    modes = {"dense": RagSettings(keyword_weight=0.0), "keyword": RagSettings(vector_weight=0.0)}
    for variant in ["", *(arguments.hybrid or [])]:
        weight, _, rrf_k = variant.partition(":")
        update = {"keyword_weight": float(weight)} if weight else {}
        modes[f"hybrid {variant}".strip()] = RagSettings(**update, **({"rrf_k": int(rrf_k)} if rrf_k else {}))
    with tempfile.TemporaryDirectory(prefix="parley-search-") as scratch:
        embedded = await asyncio.to_thread(start_embedded_postgres, Path(scratch), "bench")
        try:
            database = Database(create_engine(embedded.url, Settings(database_url=embedded.url)))
            await upgrade_to_head(database.engine)
            user_id, knowledge_bases, chunk_of = await load(database, embedder, sets)
            print(f"{embedder.name}; passages: " + ", ".join(f"{k} {len(v)}" for k, v in sets.items()))
            print(f"{'set':6} {'n':>4}  " + "  ".join(f"{mode:^36}" for mode in modes), flush=True)
            for name, question_language, haystack_language in SETS:
                haystack = {page["page"] for page in sets[haystack_language]}
                questions = [page for page in sets[question_language] if page["page"] in haystack]
                vectors = [await embedder.embed_query(page["question"]) for page in questions]
                line = f"{name:6} {len(questions):>4}  "
                for settings in modes.values():
                    ranks: list[int | None] = []
                    async with database.session() as session:
                        for page, vector in zip(questions, vectors, strict=True):
                            found = await search_by_vector(
                                session,
                                user_id=user_id,
                                role="user",
                                query=page["question"],
                                query_vector=vector,
                                scope=RetrievalScope(knowledge_base_ids=[knowledge_bases[haystack_language]]),
                                top_k=TOP_K,
                                settings=settings,
                            )
                            target = chunk_of[(haystack_language, page["page"])]
                            ids = [chunk.chunk_id for chunk in found]
                            ranks.append(ids.index(target) + 1 if target in ids else None)
                    line += f"{summary(ranks):36}  "
                print(line, flush=True)
            await database.dispose()
        finally:
            await asyncio.to_thread(embedded.stop)
            await embedder.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=Path, default=None, help="a JSON file written by search_corpus.py")
    parser.add_argument(
        "--hybrid", action="append", help="another fusion to compare, as KEYWORD_WEIGHT[:RRF_K] (repeatable)"
    )
    asyncio.run(evaluate(parser.parse_args()))


if __name__ == "__main__":
    main()
