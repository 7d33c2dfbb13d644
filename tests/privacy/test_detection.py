"""PII detection in English, German and Spanish text: the kinds Parley looks for are found, numbers that fail
their check digits and ordinary business numbers are not."""

from __future__ import annotations

import pytest

from parley.privacy.detection import Detector, language_of
from parley.privacy.settings import PrivacySettings


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(PrivacySettings())


def found(detector: Detector, text: str) -> set[tuple[str, str]]:
    return {(f.kind, text[f.start : f.end]) for f in detector.detect(text)}


class TestEnglish:
    def test_structured_kinds_and_names(self, detector: Detector) -> None:
        text = (
            "Please ask John Smith (john.smith@example.com, +44 20 7946 0958) to pay with card 4111 1111 1111 1111 "
            "into IBAN GB82 WEST 1234 5698 7654 32; his SSN is 536-22-1844 and he logged in from 203.0.113.9."
        )
        assert found(detector, text) >= {
            ("PERSON", "John Smith"),
            ("EMAIL_ADDRESS", "john.smith@example.com"),
            ("PHONE_NUMBER", "+44 20 7946 0958"),
            ("CREDIT_CARD", "4111 1111 1111 1111"),
            ("IBAN_CODE", "GB82 WEST 1234 5698 7654 32"),
            ("US_SSN", "536-22-1844"),
            ("IP_ADDRESS", "203.0.113.9"),
        }

    def test_uk_and_french_ids(self, detector: Detector) -> None:
        text = "National Insurance number AB 12 34 56 C; numéro de sécurité sociale 1 85 05 78 006 084 91."
        assert found(detector, text) >= {("UK_NINO", "AB 12 34 56 C"), ("FR_NIR", "1 85 05 78 006 084 91")}

    def test_failed_checksums_and_business_numbers_are_left_alone(self, detector: Detector) -> None:
        text = (
            "Order 4711-0815-2231 shipped on 2024-11-05; product SKU AB-12345-XY, version 3.2.1, invoice "
            "INV-2024-000123 for 1,234.56 EUR. Card 4111 1111 1111 1112 and IBAN DE89 3704 0044 0532 0130 01 are "
            "typos."
        )
        assert found(detector, text) == set()


class TestGerman:
    def test_german_text(self, detector: Detector) -> None:
        text = (
            "Sehr geehrte Frau Weber, bitte rufen Sie Herrn Klaus Becker unter +49 30 12345678 an. Meine "
            "Steuer-ID ist 86095742719 und die Rechnung geht an klaus.becker@firma.de, IBAN "
            "DE89 3704 0044 0532 0130 00."
        )
        assert language_of(text) == "de"
        result = found(detector, text)
        assert result >= {
            ("PHONE_NUMBER", "+49 30 12345678"),
            ("DE_TAX_ID", "86095742719"),
            ("EMAIL_ADDRESS", "klaus.becker@firma.de"),
            ("IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
            ("PERSON", "Klaus Becker"),
        }
        assert any(kind == "PERSON" and "Weber" in value for kind, value in result)
        # Capitalised German nouns and salutations are not names.
        assert not any(kind == "PERSON" and value in {"Rechnung", "Steuer-ID", "bitte"} for kind, value in result)


class TestSpanish:
    def test_spanish_text(self, detector: Detector) -> None:
        text = (
            "Hola, me llamo Juan García López y mi DNI es 12345678Z; el NIE de mi esposa es X1234567L. "
            "Llámame al +34 612 345 678 o escribe a juan.garcia@correo.es."
        )
        assert language_of(text) == "es"
        result = found(detector, text)
        assert result >= {
            ("PERSON", "Juan García López"),
            ("ES_NIF", "12345678Z"),
            ("ES_NIE", "X1234567L"),
            ("PHONE_NUMBER", "+34 612 345 678"),
            ("EMAIL_ADDRESS", "juan.garcia@correo.es"),
        }
        assert ("PERSON", "Hola") not in result


def test_emails_are_checked_without_the_network(detector: Detector, monkeypatch: pytest.MonkeyPatch) -> None:
    """tldextract's default would fetch the public-suffix list; Parley's extractor never opens a socket."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("PII detection tried to reach the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    fresh = Detector(PrivacySettings(names=False))
    assert found(fresh, "write to ops@example.co.uk or a@b.invalidtld") == {("EMAIL_ADDRESS", "ops@example.co.uk")}


def test_card_ranges_and_phone_shapes_beyond_presidio(detector: Detector) -> None:
    """Mastercard's 2-series and 19-digit Visa numbers (Luhn-checked), and phone numbers as people write them even
    where the numbering plan has no such range; dates and references written alike are not phones."""
    text = (
        "Cards 2223 0031 2200 3222 and 4222222222222222224; call (555) 123-4567 x204 or +1-288-500-4550. "
        "Due 05.11.2024, reference 2024-000123, tracking 0294862042931542."
    )
    result = found(detector, text)
    assert {("CREDIT_CARD", "2223 0031 2200 3222"), ("CREDIT_CARD", "4222222222222222224")} <= result
    assert any(kind == "PHONE_NUMBER" and value.startswith("(555) 123-4567") for kind, value in result)
    assert ("PHONE_NUMBER", "+1-288-500-4550") in result
    assert not any(value in {"05.11.2024", "2024-000123", "0294862042931542"} for _, value in result)
