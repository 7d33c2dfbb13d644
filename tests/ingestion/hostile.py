"""Documents built to hurt a reader, as the outside review sent them: small uploads, inside the size and
archive-bomb limits, that cost gigabytes or minutes to parse naively."""

from __future__ import annotations

import io
import random
import zipfile
import zlib

from tests.ingestion import documents

MIB = 1024 * 1024


def pdf_sharing_one_content_stream(pages: int = 12, stream_mib: int = 4) -> bytes:
    """A PDF of a few KiB whose `pages` pages all draw the same `stream_mib` MiB content stream: a reader that
    interprets each page's content interprets it `pages` times."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DecodedStreamObject, NameObject

    operation = b"BT /F1 9 Tf 20 700 Td (All work and no play makes Jack a dull boy.) Tj ET\n"
    content = operation * (stream_mib * MIB // len(operation))
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(documents.pdf(["cover"] * pages))))
    stream = DecodedStreamObject()
    stream.set_data(content)
    shared = writer._add_object(stream.flate_encode())
    font = writer.pages[0]["/Resources"]
    for page in writer.pages:
        page[NameObject("/Contents")] = shared
        page[NameObject("/Resources")] = font
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_expanding_to(xml_mib: int, *, seed: int = 7) -> bytes:
    """A valid DOCX whose document.xml expands to about `xml_mib` MiB: paragraphs of plain words, random
    enough to compress about 80:1, so it passes the archive-bomb ratio (100) and total (512 MiB) limits."""
    template = io.BytesIO(documents.docx())
    rng = random.Random(seed)
    words = [f"w{n}" for n in range(64)]
    with zipfile.ZipFile(template) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    head, _, _ = parts["word/document.xml"].partition(b"<w:body>")
    paragraphs: list[bytes] = []
    size = 0
    filler = b'<w:r><w:rPr><w:b/></w:rPr><w:t xml:space="preserve">' + b"lorem ipsum " * 100 + b"</w:t></w:r>"
    while size < xml_mib * MIB:
        text = " ".join(rng.choices(words, k=8)).encode()
        paragraph = b"<w:p><w:r><w:t>" + text + b"</w:t></w:r>" + filler + b"</w:p>"
        paragraphs.append(paragraph)
        size += len(paragraph)
    parts["word/document.xml"] = head + b"<w:body>" + b"".join(paragraphs) + b"</w:body></w:document>"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return out.getvalue()


def docx_of_many_paragraphs(count: int, *, text_every: int = 10_000) -> bytes:
    """A plain (if long) DOCX of `count` paragraphs, one in `text_every` with a sentence and the rest empty:
    little text, but millions of XML elements, which a reader that builds the whole tree holds as hundreds
    of MiB."""
    template = io.BytesIO(documents.docx())
    with zipfile.ZipFile(template) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    head, _, _ = parts["word/document.xml"].partition(b"<w:body>")
    empty = b"<w:p><w:r><w:t></w:t></w:r></w:p>"
    said = b"<w:p><w:r><w:t>Paragraph %d says badges open every door on floor three.</w:t></w:r></w:p>"
    body = b"".join(said % n if n % text_every == 0 else empty for n in range(count))
    parts["word/document.xml"] = head + b"<w:body>" + body + b"</w:body></w:document>"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return out.getvalue()


def pptx_with_a_huge_slide(paragraphs: int) -> bytes:
    """A PPTX whose first slide holds `paragraphs` one-word paragraphs: python-pptx parses a slide whole."""
    with zipfile.ZipFile(io.BytesIO(documents.pptx())) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    slide = parts["ppt/slides/slide1.xml"]
    body = b"<a:p><a:r><a:t>x</a:t></a:r></a:p>" * paragraphs
    parts["ppt/slides/slide1.xml"] = slide.replace(b"</a:p></p:txBody>", b"</a:p>" + body + b"</p:txBody>", 1)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return out.getvalue()


def ratio(data: bytes) -> float:
    """Uncompressed / compressed size of a zip, as the upload check computes it."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = archive.infolist()
    return sum(e.file_size for e in entries) / max(1, sum(e.compress_size for e in entries))


__all__ = [
    "docx_expanding_to",
    "docx_of_many_paragraphs",
    "pdf_sharing_one_content_stream",
    "pptx_with_a_huge_slide",
    "ratio",
    "zlib",
]
