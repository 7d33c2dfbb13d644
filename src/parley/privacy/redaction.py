"""Masking and pseudonymising text, and putting pseudonyms back in an answer as it streams.

- mask: each finding becomes its kind's placeholder (`<EMAIL>`), for good.
- pseudonymise: each distinct value becomes a numbered placeholder (`<PERSON_1>`, `<EMAIL_2>`) kept in a
  `PseudonymMap`, so the same value gets the same placeholder in every message of a conversation, and the
  model's answer is shown with the values put back (`StreamRestorer`, which holds back only what could still be
  the start of a placeholder cut between two deltas).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from parley.privacy.detection import Finding

if TYPE_CHECKING:  # presidio takes seconds to import: only when something is masked
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import OperatorConfig

# presidio's entity names -> the placeholder's label, and the kind in words (for `block`'s refusal).
KINDS: dict[str, tuple[str, str]] = {
    "EMAIL_ADDRESS": ("EMAIL", "an email address"),
    "PHONE_NUMBER": ("PHONE", "a phone number"),
    "IBAN_CODE": ("IBAN", "an IBAN"),
    "CREDIT_CARD": ("CARD", "a payment card number"),
    "IP_ADDRESS": ("IP", "an IP address"),
    "PERSON": ("PERSON", "a person's name"),
    "DE_TAX_ID": ("DE_TAX_ID", "a German tax id (Steuer-ID)"),
    "DE_ID_CARD": ("DE_ID_CARD", "a German identity card number"),
    "ES_NIF": ("ES_DNI", "a Spanish DNI/NIF"),
    "ES_NIE": ("ES_NIE", "a Spanish NIE"),
    "FR_NIR": ("FR_NIR", "a French social security number (NIR)"),
    "UK_NINO": ("UK_NINO", "a UK National Insurance number"),
    "US_SSN": ("US_SSN", "a US Social Security number"),
}
_PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]*_\d{1,5})>")
# The longest placeholder a stream may have cut in two: "<" + label + "_" + number + ">".
_LONGEST_PLACEHOLDER = 2 + max(len(label) for label, _ in KINDS.values()) + 6
_PARTIAL_PLACEHOLDER = re.compile(r"<[A-Z_]*\d*$")

_anonymizer: AnonymizerEngine | None = None


def label(kind: str) -> str:
    return KINDS.get(kind, (kind, ""))[0]


def described(kinds: Iterable[str]) -> list[str]:
    """The kinds of data in words, each once, in a stable order."""
    names = {KINDS.get(kind, (kind, kind.lower().replace("_", " ")))[1] for kind in kinds}
    return sorted(names)


@dataclass
class PseudonymMap:
    """The placeholders of one conversation (or one /v1 request): placeholder -> the value it stands for."""

    values: dict[str, str] = field(default_factory=dict)
    changed: bool = False
    _by_value: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    _counts: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for placeholder, value in self.values.items():
            name = placeholder.rsplit("_", 1)[0]
            self._by_value[(name, value)] = placeholder
            self._counts[name] = max(self._counts.get(name, 0), int(placeholder.rsplit("_", 1)[1]))

    def placeholder(self, kind: str, value: str) -> str:
        """The placeholder of `value` (a new one the first time it is seen), without the angle brackets."""
        name = label(kind)
        found = self._by_value.get((name, value))
        if found is None:
            self._counts[name] = self._counts.get(name, 0) + 1
            found = f"{name}_{self._counts[name]}"
            self._by_value[(name, value)] = found
            self.values[found] = value
            self.changed = True
        return found

    def restore(self, text: str) -> str:
        """`text` with every known placeholder replaced by its value (unknown ones are left as written)."""
        if "<" not in text:
            return text
        return _PLACEHOLDER.sub(lambda m: self.values.get(m.group(1), m.group(0)), text)

    def to_bytes(self) -> bytes:
        return json.dumps(self.values, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes | None) -> PseudonymMap:
        if not data:
            return cls()
        values = json.loads(data)
        return cls(values={str(k): str(v) for k, v in values.items()})


def mask(text: str, findings: Sequence[Finding]) -> str:
    """Every finding replaced by its kind's placeholder (`<EMAIL>`); irreversible."""
    if not findings:
        return text
    from presidio_anonymizer.entities import OperatorConfig

    operators = {f.kind: OperatorConfig("replace", {"new_value": f"<{label(f.kind)}>"}) for f in findings}
    return _anonymize(text, findings, operators)


def pseudonymise(text: str, findings: Sequence[Finding], mapping: PseudonymMap) -> str:
    """Every finding replaced by its value's stable placeholder in `mapping` (`<EMAIL_1>`), added when new."""
    if not findings:
        return text
    from presidio_anonymizer.entities import OperatorConfig

    for finding in findings:  # numbered in reading order (presidio replaces from the end)
        mapping.placeholder(finding.kind, text[finding.start : finding.end])

    def operator(kind: str) -> OperatorConfig:
        return OperatorConfig("custom", {"lambda": lambda value: f"<{mapping.placeholder(kind, value)}>"})

    return _anonymize(text, findings, {kind: operator(kind) for kind in {f.kind for f in findings}})


def _anonymize(text: str, findings: Sequence[Finding], operators: dict[str, OperatorConfig]) -> str:
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import RecognizerResult

    global _anonymizer
    if _anonymizer is None:
        _anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]
    results = [RecognizerResult(f.kind, f.start, f.end, f.score) for f in findings]
    return _anonymizer.anonymize(text=text, analyzer_results=results, operators=operators).text


class StreamRestorer:
    """Puts pseudonyms back into an answer delta by delta. Text is passed on at once unless its end could be
    the start of a placeholder (`<PER`), which waits for the next delta (at most ~20 characters are ever held);
    `flush` gives what is left when the answer ends."""

    def __init__(self, mapping: PseudonymMap) -> None:
        self.mapping = mapping
        self._held = ""

    def feed(self, delta: str) -> str:
        text = self._held + delta
        self._held = ""
        cut = text.rfind("<")
        if cut != -1 and len(text) - cut <= _LONGEST_PLACEHOLDER and _PARTIAL_PLACEHOLDER.match(text, cut):
            text, self._held = text[:cut], text[cut:]
        return self.mapping.restore(text)

    def flush(self) -> str:
        text, self._held = self._held, ""
        return self.mapping.restore(text)
