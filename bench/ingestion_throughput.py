"""Ingestion throughput: a generated 100-page PDF through extraction, chunking and embedding (pages/s).

The database insert is left out (it is a few batched INSERTs, milliseconds next to embedding). Each page holds
about 330 words of varied business prose, i.e. ~430 WordPiece tokens: two chunks of the default 350 tokens.

    .venv/bin/python bench/ingestion_throughput.py [--pages 100] [--threads 1] [--provider minilm e5-small]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from fpdf import FPDF

from parley.config import EmbeddingSettings, RagSettings
from parley.embeddings import count_tokens, create_embedder
from parley.ingestion.chunking import chunk_sections
from parley.ingestion.extraction import ExtractionLimits, extract

_SUBJECTS = ["The finance team", "Each employee", "The customer", "Our supplier", "The project board", "IT support"]
_VERBS = ["reviews", "approves", "submits", "documents", "reports", "updates", "archives", "escalates"]
_OBJECTS = [
    "the quarterly budget",
    "every travel request",
    "the incident report",
    "the onboarding checklist",
    "all purchase orders above 5,000 euros",
    "the security audit findings",
    "the release notes",
]
_TAILS = [
    "before the end of the month.",
    "within three working days.",
    "after consulting the manager.",
    "using the internal portal.",
    "as described in section 4.2.",
    "unless the contract says otherwise.",
]


def generate_pdf(pages: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    document = FPDF()
    document.set_font("helvetica", size=10)
    for page in range(1, pages + 1):
        document.add_page()
        sentences = [
            f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_TAILS)}"
            for _ in range(38)
        ]
        document.multi_cell(0, 5, f"Section {page}. " + " ".join(sentences))
    return bytes(document.output())


async def run(provider: str, data: bytes, pages: int, threads: int) -> None:
    rag = RagSettings()
    embedder = create_embedder(EmbeddingSettings(provider=provider, threads=threads))
    try:
        await embedder.embed_query("warm up")  # loading the model is not ingestion
        started = time.perf_counter()
        document = await asyncio.to_thread(extract, data, "pdf", limits=ExtractionLimits())
        extracted = time.perf_counter()
        chunks = await asyncio.to_thread(
            chunk_sections,
            document.sections,
            chunk_tokens=rag.chunk_tokens,
            overlap_tokens=rag.chunk_overlap_tokens,
            count_tokens=lambda texts: count_tokens(embedder, texts),
        )
        chunked = time.perf_counter()
        await embedder.embed_documents([chunk.text for chunk in chunks])
        embedded = time.perf_counter()
    finally:
        await embedder.aclose()
    total = embedded - started
    print(
        f"{provider:9} {pages} pages, {len(chunks)} chunks: extract {extracted - started:.2f} s, "
        f"chunk {chunked - extracted:.2f} s, embed {embedded - chunked:.2f} s; "
        f"total {total:.2f} s = {pages / total:.1f} pages/s ({threads} embedding thread(s))"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--provider", nargs="+", default=["minilm", "e5-small"])
    arguments = parser.parse_args()
    data = generate_pdf(arguments.pages)
    for provider in arguments.provider:
        asyncio.run(run(provider, data, arguments.pages, arguments.threads))


if __name__ == "__main__":
    main()
