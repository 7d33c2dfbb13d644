"""Extracted sections into retrieval chunks: token-sized, overlapping, never across a page, sheet or heading.

Sizes are in the embedder's own tokens when it has a tokenizer (`TokenCounter`: WordPiece for MiniLM,
SentencePiece for E5), so a chunk fits what the model reads; a remote model gets the words x 1.3 estimate.

A section is cut into units (lines, then sentences, then runs of words for a unit still too long), the units'
tokens are counted in one batch, and units are packed greedily up to `chunk_tokens`. A new chunk starts with the
last units of the previous one, up to `overlap_tokens`, so a fact that straddles a cut is whole in one of the
two. Chunks never span two sections: a citation's page, sheet and heading are always exact.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from parley.ingestion.extraction import Section

TokenCount = Callable[[Sequence[str]], list[int]]

_SENTENCE_END = re.compile(r"(?<=[.!?;:\u3002\uff01\uff1f])\s+")


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    text: str
    token_count: int
    page: int | None
    sheet: str | None
    heading: str | None


@dataclass(frozen=True, slots=True)
class _Unit:
    text: str
    tokens: int
    # Joined to the unit before it with a newline (a new line or paragraph) rather than a space.
    new_line: bool


_LONG_RUN = re.compile(r"\S{100}")


def chunk_sections(
    sections: Sequence[Section], *, chunk_tokens: int, overlap_tokens: int, count_tokens: TokenCount
) -> list[Chunk]:
    """Chunks of at most about `chunk_tokens` tokens, in document order, numbered from 0. Blocking."""
    overlap_tokens = min(overlap_tokens, chunk_tokens // 2)
    pieces: list[tuple[int, str, bool]] = []  # (section index, text, starts a line)
    for number, section in enumerate(sections):
        for line_number, line in enumerate(section.text.split("\n")):
            sentences = [s for s in _SENTENCE_END.split(line) if s.strip()]
            for position, sentence in enumerate(sentences):
                # A run without spaces longer than any word (base64, a pasted blob) is cut into word-sized
                # pieces: whole, it would be one chunk of megabytes that the tokenizer and embedder crawl through.
                text = _LONG_RUN.sub(r"\g<0> ", sentence.strip()).strip()
                pieces.append((number, text, position == 0 and line_number > 0))
    counts = count_tokens([text for _, text, _ in pieces]) if pieces else []
    per_section: list[list[_Unit]] = [[] for _ in sections]
    oversized: list[tuple[int, str, bool]] = []
    for (number, text, new_line), tokens in zip(pieces, counts, strict=True):
        if tokens > chunk_tokens:
            oversized.append((number, text, new_line))
            per_section[number].append(_Unit("", -1, new_line))  # placeholder, filled below
        else:
            per_section[number].append(_Unit(text, tokens, new_line))
    if oversized:
        _split_oversized(per_section, oversized, chunk_tokens, count_tokens)
    chunks: list[Chunk] = []
    for section, units in zip(sections, per_section, strict=True):
        for text in _pack(units, chunk_tokens, overlap_tokens):
            chunks.append(Chunk(len(chunks), text, 0, section.page, section.sheet, section.heading))
    if not chunks:
        return []
    # Joining units can merge or split a token at the seams: the stored count is the chunk's own.
    exact = count_tokens([chunk.text for chunk in chunks])
    return [Chunk(c.index, c.text, tokens, c.page, c.sheet, c.heading) for c, tokens in zip(chunks, exact, strict=True)]


def _split_oversized(
    per_section: list[list[_Unit]], oversized: list[tuple[int, str, bool]], chunk_tokens: int, count: TokenCount
) -> None:
    """Replace each placeholder with runs of words that fit (a table row or a sentence without full stops)."""
    replacements: dict[int, list[list[_Unit]]] = {}
    for number, text, new_line in oversized:
        words = text.split(" ")
        word_tokens = count(words)
        runs: list[_Unit] = []
        start, total = 0, 0
        for position, tokens in enumerate(word_tokens):
            if total + tokens > chunk_tokens and position > start:
                runs.append(_Unit(" ".join(words[start:position]), total, new_line and not runs))
                start, total = position, 0
            total += tokens
        runs.append(_Unit(" ".join(words[start:]), total, new_line and not runs))
        replacements.setdefault(number, []).append(runs)
    for number, runs_list in replacements.items():
        pending = iter(runs_list)
        expanded: list[_Unit] = []
        for unit in per_section[number]:
            expanded.extend(next(pending) if unit.tokens == -1 else [unit])
        per_section[number] = expanded


def _pack(units: list[_Unit], chunk_tokens: int, overlap_tokens: int) -> list[str]:
    texts: list[str] = []
    current: list[_Unit] = []
    size = 0
    fresh = 0  # units in `current` not carried over from the previous chunk
    for unit in units:
        if current and size + unit.tokens > chunk_tokens:
            if fresh:
                texts.append(_join(current))
            current, size = _tail(current, overlap_tokens, chunk_tokens - unit.tokens)
            fresh = 0
        current.append(unit)
        size += unit.tokens
        fresh += 1
    if current and fresh:
        texts.append(_join(current))
    return texts


def _tail(units: list[_Unit], overlap_tokens: int, room: int) -> tuple[list[_Unit], int]:
    """The last units of a chunk, totalling at most `overlap_tokens` (and leaving `room` for the next unit)."""
    budget = min(overlap_tokens, room)
    tail: list[_Unit] = []
    size = 0
    for unit in reversed(units):
        if size + unit.tokens > budget:
            break
        tail.insert(0, unit)
        size += unit.tokens
    return tail, size


def _join(units: list[_Unit]) -> str:
    parts: list[str] = []
    for position, unit in enumerate(units):
        if position:
            parts.append("\n" if unit.new_line else " ")
        parts.append(unit.text)
    return "".join(parts).strip()
