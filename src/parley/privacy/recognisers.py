"""The recognisers Parley runs: presidio's where they exist (cards with Luhn, IBAN with its checksum, IPs,
phones, DE/ES/UK/US national ids), and Parley's own for what presidio lacks (France's NIR, names after titles
such as "Herr"/"Frau"/"Sr."), each registered for every language Parley analyses (the patterns do not depend
on the language; the person-name model does).

Emails: presidio's recogniser checks the domain with `tldextract`, whose default fetches the public-suffix list
from the internet on first use. Here it uses an extractor limited to the snapshot bundled with tldextract
(`suffix_list_urls=()`, no cache dir): nothing is fetched, ever.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import tldextract
from presidio_analyzer import EntityRecognizer, LocalRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    DeIdCardRecognizer,
    DeTaxIdRecognizer,
    EmailRecognizer,
    EsNieRecognizer,
    EsNifRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UkNinoRecognizer,
    UsSsnRecognizer,
)

from parley.privacy.checksums import fr_nir_valid, luhn_valid
from parley.privacy.detection import TITLED_NAME_SCORE

LANGUAGES = ("en", "de", "es")
# Where phone numbers without a country code are read as national numbers.
PHONE_REGIONS = ("US", "GB", "DE", "ES", "FR", "IT", "NL", "AT", "CH", "IE", "PT", "BE")


@cache
def _offline_extractor() -> tldextract.TLDExtract:
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's email recogniser, with the domain checked against the bundled public-suffix snapshot."""

    def validate_result(self, pattern_text: str) -> bool:
        return bool(_offline_extractor()(pattern_text).fqdn)


class CardRecognizer(PatternRecognizer):
    """Payment card numbers of every issuer range presidio's pattern misses (Mastercard's 2-series, 19-digit
    Visa, 12-digit Maestro), 12-19 digits in groups, kept only when they pass the Luhn check."""

    PATTERNS = [Pattern("card (Luhn)", r"(?<![\w.,-])[2-6]\d{3}(?:[ -]?\d){8,15}(?![\w-]|[.,]\d)", 0.5)]

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_entity="CREDIT_CARD", patterns=self.PATTERNS, supported_language=supported_language)

    def validate_result(self, pattern_text: str) -> bool:
        digits = "".join(c for c in pattern_text if c.isdigit())
        return (len(digits) >= 13 or digits[0] in "56") and luhn_valid(digits.rjust(13, "0"))


# Where a phone number can be: a run of digits and the separators numbers are written with, five digits at least.
_NUMBER_RUN = re.compile(r"[+(]?\d[\d \t().\[\]/~-]*\d(?:\s*(?:ext\.?|x|#)\s*\d{1,6})?")
# Text kept on either side of a run: what `phonenumbers` looks at around a candidate (a letter glued to it, a time
# stamp's ":30" after a date, an extension written after a comma: ", extension 1234").
_RUN_MARGIN = 20


class NumberingPlanPhoneRecognizer(PhoneRecognizer):
    """presidio's phone recogniser (numbers valid in one of `PHONE_REGIONS` by `phonenumbers`), run over the
    stretches of text that hold a run of digits rather than over the whole text once per region: the same
    findings, without twelve scans of a long prompt (two fifths of the time of every pattern recogniser
    together on a 500-token prompt)."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        windows: list[tuple[int, int]] = []
        for run in _NUMBER_RUN.finditer(text):
            if sum(c.isdigit() for c in run.group(0)) < 5:
                continue
            start, end = max(0, run.start() - _RUN_MARGIN), min(len(text), run.end() + _RUN_MARGIN)
            if windows and start <= windows[-1][1]:
                windows[-1] = (windows[-1][0], end)
            else:
                windows.append((start, end))
        results: list[RecognizerResult] = []
        for start, end in windows:
            for result in super().analyze(text[start:end], entities, nlp_artifacts):
                result.start += start
                result.end += start
                results.append(result)
        return results


class PhoneShapeRecognizer(PatternRecognizer):
    """Numbers written the way phone numbers are (international prefix, trunk 0 with separators, North American
    groups, extensions), valid or not by the numbering plans: presidio's recogniser (`phonenumbers`) keeps only
    numbers valid in a known region, and misses made-up or new ranges people still write."""

    PATTERNS = [
        Pattern(
            "international",
            r"(?<![\w+])(?:\+|00)[1-9]\d{0,2}[ .-]?(?:\(0\) ?)?\(?\d{1,5}\)?(?:[ .-]?\d{2,8}){1,4}"
            r"(?: ?(?:x|ext\.?) ?\d{1,6})?(?![\w-])",
            0.5,
        ),
        Pattern(
            "north american",
            r"(?<![\w.-])(?:\(\d{3}\) ?|\d{3}[.-])\d{3}[.-]\d{4}(?: ?x\d{1,6})?(?![\w-])",
            0.5,
        ),
        Pattern("trunk prefix", r"(?<![\w./-])\(?0\d{1,5}\)?[ /-]\d{3,8}(?:[ -]\d{2,6}){0,2}(?![\w-])", 0.45),
    ]
    CONTEXT = ["phone", "call", "mobile", "tel", "telefon", "anrufen", "teléfono", "llame", "móvil"]

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity="PHONE_NUMBER",
            patterns=self.PATTERNS,
            context=self.CONTEXT,
            supported_language=supported_language,
            name="PhoneShape",
        )

    def validate_result(self, pattern_text: str) -> bool:
        return 7 <= sum(c.isdigit() for c in pattern_text.split("x")[0]) <= 15


class FrNirRecognizer(PatternRecognizer):
    """France's social security number (NIR): sex, year, month, département, commune, order, then a 2-digit key
    (checked)."""

    PATTERNS = [
        Pattern(
            "FR NIR",
            r"\b[12][ .]?\d{2}[ .]?(?:0[1-9]|1[0-2]|[2-9]\d)[ .]?(?:\d{2}|2[AB])[ .]?\d{3}[ .]?\d{3}[ .]?\d{2}\b",
            0.5,
        )
    ]
    CONTEXT = ["sécurité sociale", "securite sociale", "nir", "insee", "numéro de sécu", "ssn"]

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity="FR_NIR",
            patterns=self.PATTERNS,
            context=self.CONTEXT,
            supported_language=supported_language,
        )

    def validate_result(self, pattern_text: str) -> bool:
        return fr_nir_valid(pattern_text)


_NAME = r"[A-ZÄÖÜÁÉÍÓÚÑ][a-zäöüßáéíóúñ]+(?:-[A-ZÄÖÜÁÉÍÓÚÑ][a-zäöüßáéíóúñ]+)?"
_TITLED_NAME = re.compile(
    r"\b(?:Herrn?|Frau|Hr\.|Fr\.|Mr\.?|Mrs\.?|Ms\.?|Sr\.|Sra\.|Srta\.|Don|Doña|señora?|Señora?)\s+"
    r"(?:(?:Dr|Prof)\.\s+)?"
    rf"({_NAME}(?:\s+(?:von\s+|van\s+|de\s+(?:la\s+)?|del\s+)?{_NAME}){{0,2}})"
)


class TitledNameRecognizer(LocalRecognizer):
    """A capitalised name after a title ("Frau Weber", "Herrn Dr. Klaus Becker", "Sra. García López"): German
    has no spaCy pipeline on a package registry, and German capitalises every noun, so this catches the names
    business German writes most often, in any language."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_entities=["PERSON"], supported_language=supported_language, name="TitledName")

    def load(self) -> None:
        return None

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        return [
            RecognizerResult("PERSON", match.start(1), match.end(1), TITLED_NAME_SCORE)
            for match in _TITLED_NAME.finditer(text)
        ]


def recognisers(language: str) -> list[EntityRecognizer]:
    """Every pattern recogniser, for `language` (presidio keeps recognisers per language)."""
    found: list[EntityRecognizer] = [
        OfflineEmailRecognizer(supported_language=language),
        CreditCardRecognizer(supported_language=language),
        CardRecognizer(supported_language=language),
        IbanRecognizer(supported_language=language),
        IpRecognizer(supported_language=language),
        NumberingPlanPhoneRecognizer(supported_language=language, supported_regions=PHONE_REGIONS),
        PhoneShapeRecognizer(supported_language=language),
        DeTaxIdRecognizer(supported_language=language),
        DeIdCardRecognizer(supported_language=language),
        EsNifRecognizer(supported_language=language),
        EsNieRecognizer(supported_language=language),
        UkNinoRecognizer(supported_language=language),
        UsSsnRecognizer(supported_language=language),
        FrNirRecognizer(supported_language=language),
        TitledNameRecognizer(supported_language=language),
    ]
    return found
