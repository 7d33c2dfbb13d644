"""Chunks: sized in the embedder's tokens, overlapping, and never across a page, sheet or heading."""

from __future__ import annotations

import itertools

import pytest

from parley.config import EmbeddingSettings
from parley.embeddings import approximate_token_count, create_embedder
from parley.ingestion.chunking import chunk_sections
from parley.ingestion.extraction import ExtractionLimits, Section, extract
from tests.ingestion import documents


def by_words(texts):
    """A counter that says every whitespace-separated word is one token (easy to reason about)."""
    return [len(text.split()) for text in texts]


def sentence(n: int) -> str:
    return f"Sentence {n} has exactly six words."  # 6 words


class TestSizes:
    def test_chunks_fit_the_budget_and_overlap(self):
        text = " ".join(sentence(n) for n in range(40))  # 240 words
        chunks = chunk_sections([Section(text)], chunk_tokens=60, overlap_tokens=12, count_tokens=by_words)
        assert all(c.token_count <= 60 for c in chunks) and len(chunks) >= 5
        assert [c.index for c in chunks] == list(range(len(chunks)))
        for before, after in itertools.pairwise(chunks):
            # The next chunk starts with the last two sentences (12 words) of the one before.
            assert after.text.startswith(" ".join(before.text.split(" ")[-12:]))
        # Every sentence is somewhere.
        joined = " ".join(c.text for c in chunks)
        assert all(sentence(n) in joined for n in range(40))

    def test_no_overlap(self):
        text = " ".join(sentence(n) for n in range(20))
        chunks = chunk_sections([Section(text)], chunk_tokens=30, overlap_tokens=0, count_tokens=by_words)
        assert sum(c.token_count for c in chunks) == 120

    def test_a_sentence_longer_than_a_chunk_is_cut_between_words(self):
        text = " ".join(f"w{n}" for n in range(250))
        chunks = chunk_sections([Section(text)], chunk_tokens=100, overlap_tokens=0, count_tokens=by_words)
        assert [c.token_count for c in chunks] == [100, 100, 50]
        assert " ".join(c.text for c in chunks) == text

    def test_lines_stay_lines(self):
        table = "\n".join(f"Department: D{n} | Budget: {n * 1000}" for n in range(5))
        [chunk] = chunk_sections([Section(table, sheet="S")], chunk_tokens=200, overlap_tokens=0, count_tokens=by_words)
        assert chunk.text == table


class TestOrigins:
    def test_never_across_pages_sheets_or_headings(self):
        sections = [
            Section("Short page one.", page=1),
            Section("Short page two.", page=2),
            Section("Row a", sheet="A"),
            Section("Row b", sheet="B"),
            Section("Intro\nText under intro.", heading="Intro"),
            Section("Details\nText under details.", heading="Details"),
        ]
        chunks = chunk_sections(sections, chunk_tokens=300, overlap_tokens=50, count_tokens=by_words)
        assert [(c.page, c.sheet, c.heading) for c in chunks] == [
            (1, None, None),
            (2, None, None),
            (None, "A", None),
            (None, "B", None),
            (None, None, "Intro"),
            (None, None, "Details"),
        ]
        assert chunks[4].text == "Intro\nText under intro."

    def test_every_chunk_of_a_long_section_carries_its_heading(self):
        text = " ".join(sentence(n) for n in range(30))
        chunks = chunk_sections(
            [Section(text, page=7, heading="Scope")], chunk_tokens=40, overlap_tokens=6, count_tokens=by_words
        )
        assert len(chunks) > 3 and all((c.page, c.heading) == (7, "Scope") for c in chunks)

    def test_real_docx_chunks_keep_their_headings(self):
        sections = extract(documents.docx(), "docx", limits=ExtractionLimits(max_chars=100_000)).sections
        chunks = chunk_sections(sections, chunk_tokens=350, overlap_tokens=50, count_tokens=approximate_token_count)
        assert {c.heading for c in chunks} == {"Employee Handbook", "Vacation", "Carry-over", "Expenses"}


@pytest.mark.parametrize("provider", ["minilm", "e5-small"])
async def test_sizes_in_the_models_own_tokens(provider):
    embedder = create_embedder(EmbeddingSettings(provider=provider))
    try:
        text = " ".join(f"Invoice {n} was paid by Müller GmbH on 2024-03-{n % 28 + 1:02d}." for n in range(120))
        chunks = chunk_sections(
            [Section(text)], chunk_tokens=128, overlap_tokens=16, count_tokens=embedder.count_tokens
        )
        assert len(chunks) > 5
        counted = embedder.count_tokens([c.text for c in chunks])
        assert [c.token_count for c in chunks] == counted
        # Units are counted alone; joined, SentencePiece may merge or split a piece at the seams (a few %).
        assert all(tokens <= 128 * 1.08 for tokens in counted), counted
        assert sum(counted) / len(counted) > 100
    finally:
        await embedder.aclose()
