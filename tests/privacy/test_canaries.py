"""0 raw personal data in what Parley writes about people (README, "PII"): a run seeded with canaries (emails,
cards, IBANs, phone numbers) in chat messages, sign-in attempts and file names, with every log line captured at
INFO (SQLAlchemy's statements included; their parameters are hidden by the engine anyway), leaves none of them in
the log output, the audit trail or the usage records, while the messages themselves keep them (they are the
user's data, not a record about them)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import pytest
import structlog
from fastapi import FastAPI
from sqlalchemy import select

from parley.kit.logs import configure_logging
from parley.models import AuditEvent, Message, UsageLog
from tests.factories import signed_in_user
from tests.files.helpers import upload
from tests.sse import answer_text, parse_events

EMAIL = "canary.4f2a@example.org"
CARD = "4000 0566 5566 5556"
IBAN = "GB82 WEST 1234 5698 7654 32"
PHONE = "+49 30 901820"
CANARIES = [EMAIL, CARD, IBAN, PHONE]


def _forms(canary: str) -> list[str]:
    """The canary as written and without its spaces (how a parameter or an id may carry it)."""
    return [canary, canary.replace(" ", "")]


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every line the app's log handler writes, formatted exactly as it would reach the log file, at INFO."""
    root = logging.getLogger()
    ours = [h.formatter for h in root.handlers if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)]
    if not ours or not structlog.is_configured():  # as the app sets them up (another test may have changed them)
        configure_logging(level="warning", json=True)
        ours = [h.formatter for h in root.handlers if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)]
    formatter = ours[0]
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    engine_logger = logging.getLogger("sqlalchemy.engine.Engine")
    engine_logger.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        engine_logger.setLevel(logging.NOTSET)


async def test_no_canary_reaches_logs_audit_or_usage(
    app: FastAPI, client: httpx.AsyncClient, captured_logs: io.StringIO
) -> None:
    me = await signed_in_user(app, client)
    text = f"Refund {CARD} to IBAN {IBAN}; call me on {PHONE} or write to {EMAIL}."
    response = await client.post("/api/v1/chat", json={"message": text, "model": "echo"}, headers=me.headers)
    assert response.status_code == 200, response.text
    assert answer_text(parse_events(response.text)) == text

    failed = await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": "not-the-password-1"})
    assert failed.status_code == 401
    stored = await upload(client, me, b"quarterly numbers", f"statement {IBAN} for {EMAIL}.txt")
    assert stored.status_code == 201, stored.text

    # What a library or a careless log call might write: a request body, a failed address.
    logging.getLogger("some.sdk").warning("upstream rejected body: %s", text)
    structlog.get_logger("parley.test").warning("delivery_failed", to=EMAIL, iban=IBAN)
    logs = captured_logs.getvalue()
    async with app.state.database.session() as session:
        audit = [f"{e.action} {e.target_id} {e.details}" for e in (await session.scalars(select(AuditEvent))).all()]
        usage = [str(row.__dict__) for row in (await session.scalars(select(UsageLog))).all()]
        # Whole messages: their text is sealed at rest and opened as they load.
        messages = [m.content for m in (await session.scalars(select(Message))).all()]

    # The run really carried the canaries: the log lines with them were written (masked), the failed sign-in
    # was audited, the conversation keeps the message (the user's data, in its place).
    sdk, root = logging.getLogger("some.sdk"), logging.getLogger()
    why = (sdk.getEffectiveLevel(), sdk.disabled, logging.root.manager.disable, root.handlers, logs[-2000:])
    assert "upstream rejected body" in logs and "delivery_failed" in logs, why
    assert "<EMAIL>" in logs and "<CARD>" in logs and "<IBAN>" in logs and "<PHONE>" in logs
    assert any(line.startswith("auth.login_failed") and "<EMAIL>" in line for line in audit)
    assert usage and text in messages
    for canary in CANARIES:
        for form in _forms(canary):
            assert form not in logs, f"{form} in the log output"
            assert not [line for line in audit if form in line], f"{form} in audit_events"
            assert not [line for line in usage if form in line], f"{form} in usage_logs"
