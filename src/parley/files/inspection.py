"""What an upload really is, decided from its bytes: the name only picks between kinds of text.

Blocking (CPU) work: call it in a thread. Every refusal is a ParleyError with a message for the user.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

import filetype  # type: ignore[import-untyped]

from parley.config import FileSettings
from parley.errors import Unprocessable
from parley.files.errors import UnsupportedFileType
from parley.images.formats import NotAnImage, identify

MIB = 1024 * 1024

PDF, DOCX, XLSX, PPTX = "pdf", "docx", "xlsx", "pptx"
IMAGE = "image"
TXT, MD, CSV, HTML, JSON, CODE = "txt", "md", "csv", "html", "json", "code"

MIME_TYPES = {
    PDF: "application/pdf",
    DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    PPTX: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    TXT: "text/plain",
    MD: "text/markdown",
    CSV: "text/csv",
    HTML: "text/html",
    JSON: "application/json",
    CODE: "text/plain",
}

# The content type of the main part, in [Content_Types].xml, of each Office Open XML format.
_OOXML_MAIN_PARTS = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": PPTX,
}
_OVERRIDE = re.compile(r"<Override\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
# Archives inside an archive are refused: nothing in Parley unpacks them, and they are how bombs nest.
_ARCHIVE_SUFFIXES = frozenset(
    {".zip", ".jar", ".war", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".tar", ".zst", ".cab", ".lz", ".lzma"}
)
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

_TEXT_BY_SUFFIX = {
    ".txt": TXT,
    ".text": TXT,
    ".log": TXT,
    ".md": MD,
    ".markdown": MD,
    ".csv": CSV,
    ".tsv": CSV,
    ".html": HTML,
    ".htm": HTML,
    ".xhtml": HTML,
    ".json": JSON,
}
_CODE_SUFFIXES = frozenset(
    (  # noqa: SIM905 - a word list reads better than seventy quoted strings
        ".py .pyi .js .mjs .cjs .jsx .ts .tsx .java .kt .kts .scala .go .rs .c .h .cc .cpp .cxx .hpp .hh .cs .fs"
        " .rb .php .swift .m .mm .sh .bash .zsh .fish .ps1 .bat .sql .r .jl .lua .pl .pm .dart .ex .exs .erl .hs"
        " .clj .vue .svelte .css .scss .sass .less .xml .yaml .yml .toml .ini .cfg .conf .env .properties .gradle"
        " .tf .proto .graphql .dockerfile .mk .cmake .ipynb .tex .rst .adoc"
    ).split()
)
_CODE_NAMES = frozenset({"makefile", "dockerfile", "containerfile", "jenkinsfile", "gemfile", "rakefile"})
# Names that promise a binary document: text content under such a name is a disguise or a mistake.
_BINARY_SUFFIXES = frozenset({".pdf", ".docx", ".xlsx", ".pptx", ".doc", ".xls", ".ppt", ".zip", ".exe", ".dll"})


@dataclass(frozen=True)
class Detected:
    file_type: str
    mime_type: str


def inspect_upload(data: bytes, filename: str, limits: FileSettings) -> Detected:
    """The file type of `data`, or a refusal saying why it cannot be taken."""
    if not data:
        raise Unprocessable("file: the file is empty")
    suffix = PurePosixPath(filename.lower()).suffix
    try:
        # An image for vision models (README, "Images"); its real format, whatever its name says.
        return Detected(file_type=IMAGE, mime_type=identify(data).media_type)
    except NotAnImage:
        pass
    if data.startswith(b"%PDF-"):
        return _detected(PDF)
    if data.startswith(b"PK\x03\x04"):
        return _detected(_inspect_ooxml(data, limits))
    if data.startswith(_OLE_SIGNATURE):
        raise UnsupportedFileType(
            "file: legacy Office files (.doc, .xls, .ppt) and password-protected Office files cannot be read; "
            "save it as .docx, .xlsx or .pptx without a password"
        )
    text = _as_text(data)
    if text is None:
        raise UnsupportedFileType(f"file: {_describe_binary(data)}, which Parley cannot read; {_SUPPORTED}")
    if suffix in _BINARY_SUFFIXES:
        raise UnsupportedFileType(f"file: the name ends in {suffix} but the content is plain text, not that format")
    return _detected(_classify_text(text, filename.lower(), suffix))


_SUPPORTED = (
    "supported: PDF, Word (.docx), Excel (.xlsx), PowerPoint (.pptx), UTF-8 text (txt, md, csv, html, json, code) "
    "and images (PNG, JPEG, WebP, GIF)"
)


def _detected(file_type: str) -> Detected:
    return Detected(file_type=file_type, mime_type=MIME_TYPES[file_type])


def _describe_binary(data: bytes) -> str:
    kind = filetype.guess(data[:8192])
    if kind is not None:
        return f"the content is {kind.mime} (.{kind.extension})"
    return "the content is binary, not UTF-8 text"


def _as_text(data: bytes) -> str | None:
    """The text when `data` is UTF-8 (a BOM is fine) without NUL characters, else None."""
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _classify_text(text: str, filename: str, suffix: str) -> str:
    declared = _TEXT_BY_SUFFIX.get(suffix)
    if declared is None and (suffix in _CODE_SUFFIXES or PurePosixPath(filename).name in _CODE_NAMES):
        declared = CODE
    if declared == JSON or (declared is None and text.lstrip()[:1] in ("{", "[")):
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            if declared == JSON:
                raise Unprocessable(
                    f"file: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
                ) from exc
        else:
            return JSON
    if declared is None and re.match(r"\s*(<!doctype\s+html|<html[\s>])", text[:1024], re.IGNORECASE):
        return HTML
    return declared or TXT


def _inspect_ooxml(data: bytes, limits: FileSettings) -> str:
    """docx, xlsx or pptx, judged from the zip's central directory and its [Content_Types].xml alone: no
    other part is decompressed here, and archives that would expand beyond the limits are refused."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise Unprocessable("file: the zip structure is damaged; the file cannot be read") from exc
    with archive:
        entries = archive.infolist()
        _check_bomb(entries, limits)
        names = {entry.filename for entry in entries}
        types_entry = next((e for e in entries if e.filename == "[Content_Types].xml"), None)
        if types_entry is None:
            raise UnsupportedFileType(f"file: a zip archive, not an Office document; {_SUPPORTED}")
        if types_entry.file_size > MIB:
            raise Unprocessable("file: the Office document's [Content_Types].xml is implausibly large")
        try:
            content_types = archive.read(types_entry).decode("utf-8", errors="replace")
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:  # CRC mismatch, truncated, bad method
            raise Unprocessable("file: the Office document is damaged; it cannot be read") from exc
    for override in _OVERRIDE.findall(content_types):
        attributes = dict(_ATTRIBUTE.findall(override))
        kind = _OOXML_MAIN_PARTS.get(attributes.get("ContentType", "").strip())
        if kind is not None and attributes.get("PartName", "").lstrip("/") in names:
            return kind
    raise UnsupportedFileType(
        f"file: an Office Open XML package that is not a plain Word, Excel or PowerPoint document "
        f"(templates and macro-enabled files are not taken); {_SUPPORTED}"
    )


def _check_bomb(entries: list[zipfile.ZipInfo], limits: FileSettings) -> None:
    if len(entries) > limits.zip_max_entries:
        raise Unprocessable(
            f"file: the document holds {len(entries)} parts, more than the {limits.zip_max_entries} allowed"
        )
    total = sum(entry.file_size for entry in entries)
    if total > limits.zip_max_uncompressed_mib * MIB:
        raise Unprocessable(
            f"file: the document would expand to {total // MIB} MiB, more than the "
            f"{limits.zip_max_uncompressed_mib} MiB allowed"
        )
    compressed = sum(entry.compress_size for entry in entries)
    if total > MIB and total > limits.zip_max_ratio * max(compressed, 1):
        raise Unprocessable("file: the document is compressed suspiciously well (a zip bomb?); refused")
    for entry in entries:
        if entry.file_size > MIB and entry.file_size > limits.zip_max_ratio * max(entry.compress_size, 1):
            raise Unprocessable(f"file: the part {entry.filename[:100]!r} is compressed suspiciously well; refused")
        # Inside the ratio and total limits a 1.3 MiB DOCX can still hold 100 MiB of XML, which parsers turn
        # into gigabytes and minutes: one part may expand so far and no further.
        if entry.file_size > limits.ooxml_max_part_mib * MIB:
            raise Unprocessable(
                f"file: the part {entry.filename[:100]!r} expands to {entry.file_size // MIB} MiB, more than the "
                f"{limits.ooxml_max_part_mib} MiB a part of an Office document may have; split the document"
            )
        if entry.flag_bits & 0x1:
            raise UnsupportedFileType("file: the document has encrypted parts and cannot be read")
        if PurePosixPath(entry.filename.lower()).suffix in _ARCHIVE_SUFFIXES:
            raise Unprocessable(f"file: the document contains a nested archive ({entry.filename[:100]!r}); refused")
