"""The one source of 'now', so code never mixes naive and aware datetimes."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
