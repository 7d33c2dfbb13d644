"""Text out of every supported file type, with pages, sheets and headings; clear reasons when it fails."""

from __future__ import annotations

import pytest

from parley.ingestion.extraction import ExtractionError, ExtractionLimits, decode_text, extract
from tests.ingestion import documents

LIMIT = 1_000_000


class TestPdf:
    def test_pages_are_numbered(self):
        document = extract(
            documents.pdf(["Alpha page text.", "Beta page text.", "Gamma."]),
            "pdf",
            limits=ExtractionLimits(max_chars=LIMIT),
        )
        assert document.page_count == 3
        assert [(s.page, s.text) for s in document.sections] == [
            (1, "Alpha page text."),
            (2, "Beta page text."),
            (3, "Gamma."),
        ]

    def test_password_protected_pdf_is_refused_clearly(self):
        with pytest.raises(ExtractionError, match="password-protected"):
            extract(documents.encrypted_pdf(), "pdf", limits=ExtractionLimits(max_chars=LIMIT))

    def test_owner_password_only_still_reads(self):
        document = extract(documents.owner_only_pdf(), "pdf", limits=ExtractionLimits(max_chars=LIMIT))
        assert document.sections[0].text == "Confidential salary table"

    def test_scanned_pdf_is_refused_clearly(self):
        with pytest.raises(ExtractionError, match=r"looks scanned \(images only\); OCR is not supported"):
            extract(documents.image_only_pdf(), "pdf", limits=ExtractionLimits(max_chars=LIMIT))

    def test_damaged_pdf(self):
        with pytest.raises(ExtractionError, match="damaged"):
            extract(b"%PDF-1.7\n this is not really a pdf", "pdf", limits=ExtractionLimits(max_chars=LIMIT))


class TestOffice:
    def test_docx_headings_and_tables(self):
        sections = extract(documents.docx(), "docx", limits=ExtractionLimits(max_chars=LIMIT)).sections
        by_heading = {s.heading: s.text for s in sections}
        assert list(by_heading) == ["Employee Handbook", "Vacation", "Carry-over", "Expenses"]
        assert by_heading["Vacation"].startswith("Vacation\nEvery employee gets 28 days")
        assert "Grade | Days\nGrade: Junior | Days: 26\nGrade: Senior | Days: 30" in by_heading["Carry-over"]
        assert all(s.page is None for s in sections)

    def test_xlsx_sheets_and_labelled_rows(self):
        document = extract(documents.xlsx(), "xlsx", limits=ExtractionLimits(max_chars=LIMIT))
        budget, headcount = document.sections
        assert budget.sheet == "Budget 2025" and headcount.sheet == "Headcount"
        assert "Department: Research | Budget: 340000 | Owner: Bob" in budget.text.split("\n")
        # A first row of numbers is data, not a header.
        assert headcount.text == "2023 | 41\n2024 | 57"

    def test_pptx_slides_are_pages_with_titles(self):
        document = extract(documents.pptx(), "pptx", limits=ExtractionLimits(max_chars=LIMIT))
        assert document.page_count == 2
        first, second = document.sections
        assert (first.page, first.heading) == (1, "Roadmap 2026")
        assert "Launch the mobile app in spring." in first.text and "Notes: Mention the beta testers." in first.text
        assert (second.page, second.heading) == (2, "Pricing") and "Plan: Pro | Price: 20 EUR" in second.text

    def test_not_really_a_docx(self):
        with pytest.raises(ExtractionError, match="DOCX"):
            extract(b"PK\x03\x04 broken zip", "docx", limits=ExtractionLimits(max_chars=LIMIT))


class TestText:
    def test_html_drops_scripts_and_styles_and_keeps_headings(self):
        sections = extract(documents.HTML, "html", limits=ExtractionLimits(max_chars=LIMIT)).sections
        text = "\n".join(s.text for s in sections)
        assert "secret" not in text and "color:red" not in text and "javascript" not in text
        assert [s.heading for s in sections] == ["Travel policy", "Hotels"]
        assert "Book trains for trips under 600 km." in sections[0].text
        assert "At most 150 EUR per night." in sections[1].text

    def test_markdown_headings_but_not_inside_code(self):
        sections = extract(documents.MARKDOWN, "md", limits=ExtractionLimits(max_chars=LIMIT)).sections
        assert [s.heading for s in sections] == ["Onboarding", "First day", "First week"]
        assert "# not a heading: a comment inside code" in sections[1].text

    def test_csv_json_and_code_are_text(self):
        assert (
            extract(documents.CSV, "csv", limits=ExtractionLimits(max_chars=LIMIT)).sections[0].text
            == documents.CSV.decode().strip()
        )
        json_text = extract(documents.JSON, "json", limits=ExtractionLimits(max_chars=LIMIT)).sections[0].text
        assert '"rps": 200' in json_text and len(json_text.split("\n")) > 5
        code = b"def add(a, b):\n    return a + b\n"
        assert "return a + b" in extract(code, "code", limits=ExtractionLimits(max_chars=LIMIT)).sections[0].text

    def test_invalid_json_is_still_indexed(self):
        assert extract(b"{not json", "json", limits=ExtractionLimits(max_chars=LIMIT)).sections[0].text == "{not json"

    def test_encodings(self):
        assert decode_text("Grüße".encode("utf-16")) == "Grüße"
        assert decode_text("Grüße".encode("cp1252")) == "Grüße"
        assert decode_text(b"\xef\xbb\xbfplain") == "plain"

    def test_empty_file_has_no_text(self):
        with pytest.raises(ExtractionError, match="no text"):
            extract(b"  \n\n ", "txt", limits=ExtractionLimits(max_chars=LIMIT))


class TestLimit:
    def test_text_is_cut_at_max_chars(self):
        document = extract(b"word " * 1000, "txt", limits=ExtractionLimits(max_chars=1000))
        assert document.truncated and document.char_count == 1000

    def test_pages_after_the_limit_are_not_read(self):
        pages = [f"Page {n} " + "filler " * 100 for n in range(1, 6)]
        document = extract(documents.pdf(pages), "pdf", limits=ExtractionLimits(max_chars=1000))
        assert document.truncated and {s.page for s in document.sections} == {1, 2}
        assert document.page_count == 5
