"""Real documents made in code, and malicious ones, for upload tests."""

from __future__ import annotations

import io
import struct
import zipfile

import docx
import openpyxl
import pptx
from fpdf import FPDF


def pdf_bytes(text: str = "Quarterly report: revenue grew 12 %.") -> bytes:
    document = FPDF()
    document.add_page()
    document.set_font("Helvetica", size=12)
    document.cell(text=text)
    return bytes(document.output())


def docx_bytes(text: str = "Meeting notes: ship on Friday.") -> bytes:
    document = docx.Document()
    document.add_heading("Notes", level=1)
    document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def xlsx_bytes() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["region", "revenue"])
    sheet.append(["north", 120])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def pptx_bytes() -> bytes:
    presentation = pptx.Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[1])
    slide.shapes.title.text = "Roadmap"
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()


def windows_executable() -> bytes:
    """The start of a PE file: the MZ header pointing at a PE signature."""
    header = bytearray(512)
    header[0:2] = b"MZ"
    header[0x3C:0x40] = struct.pack("<I", 0x80)
    header[0x80:0x84] = b"PE\x00\x00"
    return bytes(header) + b"\x90" * 2048


def with_extra_entries(document: bytes, entries: dict[str, bytes]) -> bytes:
    """A copy of an Office document (a zip) with more parts added, deflated."""
    source = zipfile.ZipFile(io.BytesIO(document))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(item, source.read(item))
        for name, data in entries.items():
            target.writestr(name, data)
    return buffer.getvalue()


def zip_bomb_docx() -> bytes:
    """A real .docx carrying 50 MiB of zeros that deflate to ~50 KiB (ratio ~1000)."""
    return with_extra_entries(docx_bytes(), {"word/media/padding.bin": bytes(50 * 1024 * 1024)})


def nested_zip_docx() -> bytes:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("inner.txt", "hello")
    return with_extra_entries(docx_bytes(), {"word/media/archive.zip": inner.getvalue()})


def too_many_parts_docx(count: int) -> bytes:
    return with_extra_entries(docx_bytes(), {f"customXml/extra{i}.xml": b"<a/>" for i in range(count)})


def lying_size_docx(declared: int) -> bytes:
    """A .docx whose central directory claims one part expands to `declared` bytes (a forged header: the
    check must trust nothing but the directory, and refuse before decompressing anything)."""
    document = bytearray(with_extra_entries(docx_bytes(), {"word/media/blob.bin": b"x" * 100}))
    entry = document.rfind(b"PK\x01\x02")  # the last central-directory entry: the part added last
    assert document[entry + 46 : entry + 46 + 19] == b"word/media/blob.bin"
    document[entry + 24 : entry + 28] = struct.pack("<I", declared)
    return bytes(document)


def plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "not an office document")
    return buffer.getvalue()


LEGACY_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4088)
