"""Evaluation sets for document search, built from the manual pages that Debian packages ship.

Each manual page gives one (question, passage) pair: the question is the one-line summary of its NAME section
("ls - list directory contents" gives "list directory contents"), the passage the start of its DESCRIPTION section
(what a user's question about that task should find). The command name is left out of the question, so neither
arm can match on it. English pages come from `manpages` and the packages that ship their own pages; German and
Spanish from `manpages-de` and `manpages-es` (translations by the manpages-l10n project, GPL-3+; the English
pages are under their packages' own free licences). Install them with
`apt-get install manpages manpages-dev manpages-de manpages-es`; nothing is fetched at run time.

Per language the passages of all its pages form the haystack, and every page's summary asks for its own passage.
Cross-lingual sets ask the German and Spanish summaries for the English passage of the same page.

    .venv/bin/python bench/search_corpus.py --write /tmp/parley-search-sets.json
    .venv/bin/python bench/search_corpus.py --source /tmp/parley-search-sets.json --per-language 40 \\
        --write tests/retrieval/search_eval.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

MAN_ROOT = Path("/usr/share/man")
SECTIONS = ("1", "2", "3", "5", "7", "8")
# (NAME heading, DESCRIPTION heading) as the translations print them.
HEADINGS = {"en": ("NAME", "DESCRIPTION"), "de": ("BEZEICHNUNG", "BESCHREIBUNG"), "es": ("NOMBRE", "DESCRIPCIÓN")}
PASSAGE_WORDS = 120
MIN_PASSAGE_WORDS = 30
_SUMMARY = re.compile(r"^\s*(?P<names>.+?)\s+[-\u2010\u2013\u2014]\s+(?P<summary>.+)$")


@dataclass(frozen=True)
class Page:
    language: str
    page: str  # e.g. "ls.1"
    question: str
    passage: str


def render(path: Path) -> str:
    """The page as plain text (as `man` shows it, wide enough that paragraphs are not wrapped)."""
    environment = {**os.environ, "MANWIDTH": "4000", "LANG": "C.UTF-8", "MAN_KEEP_FORMATTING": ""}
    result = subprocess.run(  # noqa: S603 (fixed program, path from a directory listing)
        ["/usr/bin/man", "-l", str(path)], capture_output=True, env=environment, check=False, timeout=30
    )
    plain = subprocess.run(["/usr/bin/col", "-bx"], input=result.stdout, capture_output=True, check=False, timeout=30)
    return plain.stdout.decode("utf-8", "replace")


def sections_of(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line and not line[0].isspace():
            current = sections.setdefault(line.strip(), [])
        elif current is not None and line.strip():
            current.append(line.strip())
    return sections


def parse(language: str, page: str, text: str) -> Page | None:
    name_heading, description_heading = HEADINGS[language]
    sections = sections_of(text)
    name_lines, description = sections.get(name_heading), sections.get(description_heading)
    if not name_lines or not description:
        return None
    summary = _SUMMARY.match(" ".join(name_lines))
    if summary is None:
        return None
    question = summary["summary"].strip().rstrip(".")
    words = " ".join(description).split()
    if len(question.split()) < 2 or len(words) < MIN_PASSAGE_WORDS:
        return None
    return Page(language=language, page=page, question=question, passage=" ".join(words[:PASSAGE_WORDS]))


def page_files(language: str) -> dict[str, Path]:
    root = MAN_ROOT if language == "en" else MAN_ROOT / language
    found: dict[str, Path] = {}
    for section in SECTIONS:
        directory = root / f"man{section}"
        if directory.is_dir():
            for path in sorted(directory.iterdir()):
                name = path.name.removesuffix(".gz")
                if not path.is_symlink():
                    found[name] = path
    return found


def collect(language: str, names: set[str] | None = None) -> list[Page]:
    """Pages of `language` that parse, without repeated questions or passages (aliases share a page)."""
    files = page_files(language)
    chosen = sorted(name for name in files if names is None or name in names)
    with ThreadPoolExecutor(max_workers=2) as pool:
        texts = list(pool.map(lambda name: render(files[name]), chosen))
    pages: list[Page] = []
    questions: set[str] = set()
    passages: set[str] = set()
    for name, text in zip(chosen, texts, strict=True):
        parsed = parse(language, name, text)
        if parsed and parsed.question.lower() not in questions and parsed.passage not in passages:
            questions.add(parsed.question.lower())
            passages.add(parsed.passage)
            pages.append(parsed)
    return pages


def build() -> dict[str, list[Page]]:
    """{"en": […], "de": […], "es": […]}: the English pages are those translated into German or Spanish (so
    the cross-lingual sets have their passages)."""
    translated = {lang: collect(lang) for lang in ("de", "es")}
    english = collect("en", {page.page for pages in translated.values() for page in pages})
    names = {page.page for page in english}
    return {"en": english, **{lang: [p for p in pages if p.page in names] for lang, pages in translated.items()}}


def sample(sets: dict[str, list[Page]], per_language: int, seed: int = 21) -> dict[str, list[Page]]:
    """At most `per_language` pages of each language (a fixed random sample), plus the English pages the
    German and Spanish questions ask for in the cross-lingual sets."""
    rng = random.Random(seed)
    chosen = {lang: rng.sample(pages, min(per_language, len(pages))) for lang, pages in sets.items()}
    wanted = {p.page for pages in chosen.values() for p in pages}
    chosen["en"] = [p for p in sets["en"] if p.page in wanted]
    return {lang: sorted(pages, key=lambda p: p.page) for lang, pages in chosen.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, required=True)
    parser.add_argument("--per-language", type=int, default=None, help="a fixed sample of this many per language")
    parser.add_argument("--source", type=Path, default=None, help="sample from sets already written, not the pages")
    arguments = parser.parse_args()
    if arguments.source:
        sets = {k: [Page(**p) for p in v] for k, v in json.loads(arguments.source.read_text()).items()}
    else:
        sets = build()
    if arguments.per_language:
        sets = sample(sets, arguments.per_language)
    arguments.write.write_text(
        json.dumps({lang: [asdict(p) for p in pages] for lang, pages in sets.items()}, ensure_ascii=False, indent=1)
        + "\n"
    )
    print({lang: len(pages) for lang, pages in sets.items()})


if __name__ == "__main__":
    main()
