"""Filenames from users are cleaned so they are safe to store, to show and to save on any system."""

from __future__ import annotations

import pytest

from parley.files.names import content_disposition, sanitize_filename


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ada\\report.pdf", "report.pdf"),
        ("/absolute/path/notes.md", "notes.md"),
        ("bad\x00name\x1f.txt", "badname.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # a right-to-left override disguising the extension
        ('a<b>c:d"e|f?g*h.txt', "a_b_c_d_e_f_g_h.txt"),
        ("CON.txt", "_CON.txt"),
        ("lpt1", "_lpt1"),
        ("  .hidden. ", "hidden"),
        ("...", "file"),
        ("", "file"),
        ("résumé.docx", "résumé.docx"),
    ],
)
def test_names_are_cleaned(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean


def test_a_long_name_is_cut_to_255_bytes_keeping_its_extension() -> None:
    name = sanitize_filename("ü" * 300 + ".xlsx")
    assert name.endswith(".xlsx") and len(name.encode()) <= 255 and name.startswith("üüü")


def test_content_disposition_quotes_nothing_a_header_could_break_on() -> None:
    header = content_disposition('na"me\\x é.txt')
    assert header.startswith('attachment; filename="na_me_x _.txt"; ')
    assert header.endswith("filename*=UTF-8''na%22me%5Cx%20%C3%A9.txt")
