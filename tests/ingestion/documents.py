"""Small real documents of every supported type, generated with the libraries that write them."""

from __future__ import annotations

import io

from fpdf import FPDF


def pdf(pages: list[str]) -> bytes:
    document = FPDF()
    document.set_font("helvetica", size=11)
    for text in pages:
        document.add_page()
        document.multi_cell(0, 6, text)
    return bytes(document.output())


def image_only_pdf() -> bytes:
    document = FPDF()
    document.add_page()
    document.set_fill_color(40, 40, 40)
    document.rect(20, 20, 150, 200, style="F")  # what a scan looks like to a text extractor: no text at all
    return bytes(document.output())


def encrypted_pdf(user_password: str = "s3cret") -> bytes:  # noqa: S107 - a test document's password
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf(["Confidential salary table"]))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def owner_only_pdf() -> bytes:
    """Encrypted with an empty user password: readable, only editing is restricted."""
    return encrypted_pdf(user_password="")


def docx() -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    document.add_paragraph("Employee Handbook", style="Title")
    document.add_paragraph("Welcome to the company.")
    document.add_heading("Vacation", level=1)
    document.add_paragraph("Every employee gets 28 days of paid vacation per year.")
    document.add_heading("Carry-over", level=2)
    document.add_paragraph("Up to five unused days carry over into the next year.")
    table = document.add_table(rows=3, cols=2)
    for row, (name, days) in zip(table.rows, [("Grade", "Days"), ("Junior", "26"), ("Senior", "30")], strict=True):
        row.cells[0].text, row.cells[1].text = name, days
    document.add_heading("Expenses", level=1)
    document.add_paragraph("Submit receipts within 30 days.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx() -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Budget 2025"
    sheet.append(["Department", "Budget", "Owner"])
    sheet.append(["Marketing", 120000, "Alice"])
    sheet.append(["Research", 340000.0, "Bob"])
    other = workbook.create_sheet("Headcount")
    other.append([2023, 41])
    other.append([2024, 57])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def pptx() -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    presentation = Presentation()
    first = presentation.slides.add_slide(presentation.slide_layouts[1])
    first.shapes.title.text = "Roadmap 2026"
    first.placeholders[1].text = "Launch the mobile app in spring."
    first.notes_slide.notes_text_frame.text = "Mention the beta testers."
    second = presentation.slides.add_slide(presentation.slide_layouts[5])
    second.shapes.title.text = "Pricing"
    table = second.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(6), Inches(1)).table
    table.cell(0, 0).text, table.cell(0, 1).text = "Plan", "Price"
    table.cell(1, 0).text, table.cell(1, 1).text = "Pro", "20 EUR"
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


HTML = b"""<!doctype html><html><head><title>Ignored title</title><style>body{color:red}</style>
<script>var secret = "do not index";</script></head><body>
<h1>Travel policy</h1><p>Book trains for trips <b>under</b> 600 km.</p>
<h2>Hotels</h2><ul><li>At most 150 EUR per night.</li><li>Breakfast included.</li></ul>
<noscript>enable javascript</noscript></body></html>"""

MARKDOWN = b"""# Onboarding

Welcome aboard.

## First day

Collect your laptop from IT.

```bash
# not a heading: a comment inside code
make setup
```

## First week

Meet your mentor.
"""

CSV = b"name,team\nAda,Platform\nGrace,Compilers\n"
JSON = b'{"service":"billing","owners":["ada","grace"],"limits":{"rps":200}}'
