"""Text out of an uploaded file, with where each piece came from (page, sheet, nearest heading).

Blocking and CPU-bound: Parley runs `extract` in a child process with a memory ceiling and a time limit
(`parley.ingestion.sandbox`). Every failure a user can act on is an `ExtractionError` whose message is shown as
the file's status reason ("password-protected", "looks scanned", "corrupt"); anything a parser raises on a
broken file becomes one too. `ExtractionLimits` bound the work a small file can ask for: expanded XML per
Office part, PDF pages and the content streams interpreted for them.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog

from parley.config import FileSettings

_logger = structlog.get_logger("parley.ingestion")

_MARKDOWN_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_BLANK_RUNS = re.compile(r"\n\s*\n(\s*\n)+")
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_HTML_DROP = ("script", "style", "noscript", "template", "svg", "iframe", "object", "head")
_HEADING_MARK = "\x00H\x00"
_HTML_BLOCKS = [
    "p",
    "div",
    "li",
    "tr",
    "table",
    "ul",
    "ol",
    "pre",
    "blockquote",
    "section",
    "article",
    "header",
    "footer",
    "nav",
    "aside",
    "main",
    "dt",
    "dd",
    "figcaption",
    "hr",
    "form",
    "details",
    "summary",
]


MIB = 1024 * 1024


@dataclass(frozen=True)
class ExtractionLimits:
    """How much one file may make a parser do (defaults: those of `FileSettings`)."""

    # Extracted text beyond this many characters is cut.
    max_chars: int = 20_000_000
    # An Office part (document.xml, a sheet, a slide) may expand to at most this many bytes: the parsers hold
    # a part's whole XML tree, which is many times its size.
    ooxml_max_part_bytes: int = 32 * MIB
    # PDF pages read at most; content streams interpreted per page and in all (text extraction costs seconds
    # per MiB of content, and pages may share one stream, so a tiny file can ask for minutes).
    pdf_max_pages: int = 2000
    pdf_max_page_content_bytes: int = 1 * MIB
    pdf_max_content_bytes: int = 32 * MIB

    @classmethod
    def from_settings(cls, settings: FileSettings) -> ExtractionLimits:
        return cls(
            max_chars=settings.max_extracted_chars,
            ooxml_max_part_bytes=settings.ooxml_max_part_mib * MIB,
            pdf_max_pages=settings.pdf_max_pages,
            pdf_max_page_content_bytes=settings.pdf_max_page_content_kib * 1024,
            pdf_max_content_bytes=settings.pdf_max_content_mib * MIB,
        )


class ExtractionError(Exception):
    """The file cannot be turned into text; `message` is the user-facing reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text with one origin: a PDF page or slide (`page`), a sheet, and the heading it falls under."""

    text: str
    page: int | None = None
    sheet: str | None = None
    heading: str | None = None


@dataclass
class ExtractedDocument:
    sections: list[Section]
    page_count: int | None
    # True when the text was cut at `max_chars` (or a PDF at its page or content budget).
    truncated: bool = False
    # PDF pages left out because their content was over the per-page budget.
    skipped_pages: list[int] = field(default_factory=list)

    @property
    def char_count(self) -> int:
        return sum(len(section.text) for section in self.sections)


@dataclass
class _Collector:
    """Gathers sections up to the character budget; `full` tells extractors to stop early."""

    max_chars: int
    limits: ExtractionLimits = field(default_factory=ExtractionLimits)
    sections: list[Section] = field(default_factory=list)
    used: int = 0
    truncated: bool = False
    skipped_pages: list[int] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return self.used >= self.max_chars

    def add(self, text: str, *, page: int | None = None, sheet: str | None = None, heading: str | None = None) -> None:
        text = _tidy(text)
        if not text or self.full:
            return
        room = self.max_chars - self.used
        if len(text) > room:
            text, self.truncated = text[:room], True
        self.used += len(text)
        self.sections.append(Section(text=text, page=page, sheet=sheet, heading=heading))

    def document(self, page_count: int | None) -> ExtractedDocument:
        return ExtractedDocument(
            sections=self.sections,
            page_count=page_count,
            truncated=self.truncated,
            skipped_pages=self.skipped_pages,
        )


def _tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def extract(data: bytes, file_type: str, *, limits: ExtractionLimits) -> ExtractedDocument:
    """The text of a file of `file_type` (pdf, docx, xlsx, pptx, html, md, txt, csv, json, code), at most
    `limits.max_chars` characters of it. Raises ExtractionError with a reason a user can read."""
    extractor = _EXTRACTORS.get(file_type, _text)
    collector = _Collector(max_chars=limits.max_chars, limits=limits)
    try:
        if file_type in _OOXML:
            _check_parts(data, limits)
        page_count = extractor(data, collector)
    except (ExtractionError, MemoryError):
        # MemoryError: the memory ceiling of the reading process, which reports it as such.
        raise
    except Exception as exc:  # parsers raise anything on a damaged file; the user needs one clear reason
        _logger.info("extraction_failed", file_type=file_type, error_type=type(exc).__name__, error=str(exc)[:200])
        raise ExtractionError(f"the file could not be read as {file_type.upper()}: it looks damaged") from exc
    document = collector.document(page_count)
    if not document.sections:
        raise ExtractionError("the file contains no text")
    return document


# PDF ---------------------------------------------------------------------------------------------------------


def _pdf(data: bytes, out: _Collector) -> int:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
    except PdfReadError as exc:
        raise ExtractionError("the PDF is damaged and cannot be read") from exc
    if reader.is_encrypted:
        # An owner password alone (empty user password) restricts editing, not reading: such PDFs open.
        try:
            opened = reader.decrypt("")
        except (FileNotDecryptedError, DependencyError, NotImplementedError) as exc:
            raise ExtractionError("the PDF is password-protected; upload it without a password") from exc
        if not opened:
            raise ExtractionError("the PDF is password-protected; upload it without a password")
    page_count = len(reader.pages)
    limits = out.limits
    found_text = False
    content_used = 0
    for number, page in enumerate(reader.pages, start=1):
        if out.full:
            break
        if number > limits.pdf_max_pages or content_used >= limits.pdf_max_content_bytes:
            out.truncated = True
            break
        # Decoding is cheap; interpreting the content for text is what costs (seconds per MiB), so the size of
        # what a page draws decides whether it is read. Pages may share one stream: each use counts.
        content = page.get_contents()
        size = len(content.get_data()) if content is not None else 0
        content_used += size
        if size > limits.pdf_max_page_content_bytes:
            out.skipped_pages.append(number)
            continue
        text = page.extract_text() or ""
        if text.strip():
            found_text = True
            out.add(text, page=number)
    if not found_text and out.skipped_pages:
        raise ExtractionError(
            f"the PDF's pages draw more than {limits.pdf_max_page_content_bytes // 1024} KiB each and are too "
            "complex to read; export it again as a plain text PDF"
        )
    if not found_text and page_count:
        raise ExtractionError("the PDF looks scanned (images only); OCR is not supported")
    return page_count


# Office ------------------------------------------------------------------------------------------------------

_OOXML = frozenset({"docx", "xlsx", "pptx"})


def _check_parts(data: bytes, limits: ExtractionLimits) -> None:
    """Refuse an Office file with a part that expands beyond the per-part budget, before any parser builds
    its tree. The sizes come from the zip directory; zipfile stops reading a part at its declared size, so a
    part cannot expand further than it says."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for entry in archive.infolist():
            if entry.file_size > limits.ooxml_max_part_bytes:
                raise ExtractionError(
                    f"the document's part {entry.filename[:100]} expands to {entry.file_size // MIB} MiB, more "
                    f"than the {limits.ooxml_max_part_bytes // MIB} MiB a part may have; split the document"
                )


def _heading_level(style_name: str) -> int | None:
    if style_name == "Title":
        return 0
    match = re.fullmatch(r"Heading (\d)", style_name)
    return int(match.group(1)) if match else None


_DOCX_LINES_PER_SECTION = 10_000


def _docx(data: bytes, out: _Collector) -> None:
    # Streamed (parley.ingestion.docx_stream): python-docx holds the whole tree and took 51 s for 20 MiB of XML.
    from parley.ingestion.docx_stream import Paragraph, read_body

    heading: str | None = None
    lines: list[str] = []

    def flush() -> None:
        out.add("\n".join(lines), heading=heading)
        lines.clear()

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for block in read_body(archive):
            if out.full:
                break
            if isinstance(block, Paragraph):
                text = block.text.strip()
                if text and _heading_level(block.style) is not None:
                    flush()
                    heading = text
                if text:
                    lines.append(text)
            else:
                lines.extend(_table_lines(block.rows))
            # A long document without headings is handed over in pieces, not kept whole in `lines`.
            if len(lines) >= _DOCX_LINES_PER_SECTION:
                flush()
    flush()


def _table_lines(rows: list[list[str]]) -> Iterator[str]:
    """Rows as "header: value | header: value" when the first row reads as a header, else "a | b | c"."""
    rows = [[_SPACES.sub(" ", cell.replace("\n", " ")).strip() for cell in row] for row in rows]
    rows = [row for row in rows if any(row)]
    if not rows:
        return
    header = rows[0]
    labelled = len(rows) > 1 and all(header) and not any(_is_number(cell) for cell in header)
    if labelled:
        yield " | ".join(header)
        for row in rows[1:]:
            yield " | ".join(f"{name}: {value}" for name, value in zip(header, row, strict=False) if value)
    else:
        for row in rows:
            yield " | ".join(cell for cell in row if cell)


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx(data: bytes, out: _Collector) -> None:
    import openpyxl  # type: ignore[import-untyped]

    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        for sheet in workbook.worksheets:
            if out.full:
                break
            rows: list[list[str]] = []
            budget = out.max_chars - out.used
            size = 0
            for values in sheet.iter_rows(values_only=True):
                row = [_cell_text(value) for value in values]
                rows.append(row)
                size += sum(len(cell) + 3 for cell in row)
                if size > budget:  # no need to read further than what can be kept
                    break
            out.add("\n".join(_table_lines(rows)), sheet=sheet.title)
    finally:
        workbook.close()


def _pptx(data: bytes, out: _Collector) -> int:
    from pptx import Presentation

    presentation = Presentation(io.BytesIO(data))
    slides = list(presentation.slides)
    for number, slide in enumerate(slides, start=1):
        if out.full:
            break
        title_shape = slide.shapes.title
        title = title_shape.text_frame.text.strip() if title_shape is not None and title_shape.has_text_frame else ""
        lines = [title] if title else []
        for shape in slide.shapes:
            if shape is title_shape:
                continue
            if shape.has_text_frame:
                lines.append(shape.text_frame.text)
            if getattr(shape, "has_table", False) and shape.has_table:
                table = shape.table
                lines.extend(_table_lines([[cell.text for cell in row.cells] for row in table.rows]))
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                lines.append(f"Notes: {notes}")
        out.add("\n".join(lines), page=number, heading=title or None)
    return len(slides)


# HTML and text -----------------------------------------------------------------------------------------------


def _html(data: bytes, out: _Collector) -> None:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    for tag in soup(list(_HTML_DROP)):
        tag.decompose()
    for heading in soup.find_all(["h1", "h2", "h3", "h4", "h5", "h6"]):
        heading.replace_with(f"\n{_HEADING_MARK}{heading.get_text(' ', strip=True)}\n")
    # Blocks end lines; inline markup (<b>, <a>) stays inside its sentence.
    for block in soup.find_all(_HTML_BLOCKS):
        block.insert_before("\n")
        block.insert_after("\n")
    for tag in soup.find_all(["br", "td", "th"]):
        tag.insert_after("\n" if tag.name == "br" else " | ")
    text = soup.get_text()
    _split_on_marked_headings(text, out)


def _split_on_marked_headings(text: str, out: _Collector) -> None:
    heading: str | None = None
    lines: list[str] = []
    for line in text.split("\n"):
        if line.startswith(_HEADING_MARK):
            out.add("\n".join(lines), heading=heading)
            lines.clear()
            heading = line[len(_HEADING_MARK) :].strip() or None
            if heading:
                lines.append(heading)
        else:
            lines.append(line)
    out.add("\n".join(lines), heading=heading)


def _markdown(data: bytes, out: _Collector) -> None:
    marked: list[str] = []
    in_fence = False
    for line in _kept_text(data, out).split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _MARKDOWN_HEADING.match(line)
        marked.append(f"{_HEADING_MARK}{match.group(2)}" if match else line)
    _split_on_marked_headings("\n".join(marked), out)


def _json(data: bytes, out: _Collector) -> None:
    text = _kept_text(data, out)
    # Indented, so a minified document still breaks into lines the chunker can cut between; text that is not
    # valid JSON after all is indexed as it is.
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), indent=1, ensure_ascii=False)
    out.add(text)


def _text(data: bytes, out: _Collector) -> None:
    out.add(_kept_text(data, out))


def _kept_text(data: bytes, out: _Collector) -> str:
    """The text that can be kept, decoded from only the bytes that can yield it (UTF-8 needs at most 4 a
    character) and cut at the budget before any further work: a 190 MiB text file does not become a
    gigabyte of str (and its tidied copies) to keep 20 million characters of it."""
    keep = out.max_chars - out.used
    # Twice the budget in characters: tidying (runs of spaces, blank lines) shrinks the text before the
    # collector cuts it exactly.
    text = decode_text(data[: keep * 4])
    if len(data) > keep * 4 or len(text) > keep * 2:
        out.truncated = True
    return text[: keep * 2]


def decode_text(data: bytes) -> str:
    """Bytes of a text file as str: a BOM decides, else UTF-8, else Windows-1252 (never fails)."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


_EXTRACTORS: dict[str, Callable[[bytes, _Collector], int | None]] = {
    "pdf": _pdf,
    "docx": _docx,
    "xlsx": _xlsx,
    "pptx": _pptx,
    "html": _html,
    "md": _markdown,
    "json": _json,
    "txt": _text,
    "csv": _text,
    "code": _text,
}
