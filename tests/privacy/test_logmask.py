"""Log lines and records: emails, cards, IBANs and phone numbers never reach them; ordinary log content (ids,
timestamps, ports, counts) is left as it is."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from parley.kit.logs import configure_logging
from parley.privacy.logmask import mask, mask_value

CANARIES = [
    "canary.one@example.org",
    "4111 1111 1111 1111",
    "5500-0000-0000-0004",
    "DE89 3704 0044 0532 0130 00",
    "ES9121000418450200051332",
    "+49 30 12345678",
    "+34 612 345 678",
    "030 1234567",
]


@pytest.mark.parametrize("canary", CANARIES)
def test_canary_masked(canary: str) -> None:
    assert canary not in mask(f"value={canary}; done")


def test_ordinary_log_content_is_untouched() -> None:
    line = json.dumps(
        {
            "event": "request",
            "status": 200,
            "duration_ms": 12,
            "timestamp": "2026-12-07T19:11:56.123456Z",
            "request_id": "3f2a9c1e-1234-5678-9abc-def012345678",
            "port": 54321,
            "bytes": 1048576,
            "epoch_ms": 1765134716123,
        }
    )
    assert mask(line) == line


def test_nested_values() -> None:
    assert mask_value({"email": "a.b@example.com", "n": 3, "list": ["+49 30 12345678"]}) == {
        "email": "<EMAIL>",
        "n": 3,
        "list": ["<PHONE>"],
    }


def test_every_log_line_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    # Put back what this worker had (the apps' logging), so later tests log the way the app does.
    configured, structlog_before, root = structlog.is_configured(), structlog.get_config(), logging.getLogger()
    handlers_before, level_before = list(root.handlers), root.level
    configure_logging(level="info", json=True)
    try:
        structlog.get_logger("parley.test").warning("sign_in_failed", email="canary.one@example.org")
        logging.getLogger("some.library").error("paid with 4111 1111 1111 1111 from +49 30 12345678")
        try:
            raise ValueError("bad IBAN DE89 3704 0044 0532 0130 00")
        except ValueError:
            structlog.get_logger("parley.test").exception("failed")
        err = capsys.readouterr().err
    finally:
        structlog.configure(**structlog_before) if configured else structlog.reset_defaults()
        root.handlers[:] = handlers_before
        root.setLevel(level_before)
    assert "sign_in_failed" in err and "<EMAIL>" in err and "<IBAN>" in err
    for canary in [*CANARIES[:4], "+49 30 12345678"]:
        assert canary not in err
