"""Masking for what Parley writes about people rather than for them: log lines and audit/usage records.

Always on, and cheap: no model, only regular expressions for the kinds that leak into logs (emails, payment
cards with the Luhn check, IBANs with their checksum, phone numbers written as such: with a country code, a
national trunk prefix and separators, or the US "(555) 123-4567" shape, 7-15 digits), behind a pre-check that
lets a line without a digit or an "@" through untouched (about 10 µs for a typical line). Person names are not
looked for here: finding them needs the NER model (milliseconds a line), and the values Parley logs are ids,
not names. Client IP addresses stay in logs and audit rows on purpose (security investigations).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from parley.privacy.checksums import iban_valid, luhn_valid

_MAYBE = re.compile(r"[\d@]")
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_CARD = re.compile(r"(?<![\w.-])\d(?:[ -]?\d){12,18}(?![\w-])")
_PHONE = re.compile(
    r"(?<![\w+.-])(?:(?:\+|00)[1-9]\d{0,2}[ ./-]?(?:\(0\)[ ]?)?\d[\d ()./-]{5,16}\d"
    r"|0\d{1,4}[ /-]\d[\d /-]{4,12}\d"
    r"|\(\d{3}\) ?\d{3}-\d{4})(?![\w-])"
)


def mask(text: str) -> str:
    """`text` with emails, cards, IBANs and phone numbers replaced by `<EMAIL>`, `<CARD>`, `<IBAN>`, `<PHONE>`."""
    if not _MAYBE.search(text):
        return text
    if "@" in text:
        text = _EMAIL.sub("<EMAIL>", text)
    text = _IBAN.sub(lambda m: "<IBAN>" if iban_valid(m.group(0)) else m.group(0), text)
    text = _CARD.sub(lambda m: "<CARD>" if luhn_valid(m.group(0)) else m.group(0), text)
    return _PHONE.sub(lambda m: "<PHONE>" if _is_phone(m.group(0)) else m.group(0), text)


def _is_phone(candidate: str) -> bool:
    # E.164 allows 15 digits at most; fewer than 7 is an extension or a count.
    return 7 <= sum(c.isdigit() for c in candidate) <= 15


def mask_value(value: Any) -> Any:
    """`value` with every string in it masked (dicts and lists walked; other values as they are)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {key: mask_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_value(item) for item in value)
    return value


def mask_rendered(_: Any, __: str, line: Any) -> Any:
    """structlog processor, after the renderer: the whole line as written (message, fields, traceback)."""
    return mask(line) if isinstance(line, str) else line
