"""Keyset (cursor) and page pagination shared by list endpoints."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from parley.errors import Unprocessable

T = TypeVar("T")


class CursorPage(BaseModel, Generic[T]):
    """One slice of a list ordered newest first; pass `next_cursor` back as `cursor` for the next slice."""

    items: list[T]
    next_cursor: str | None = None


class Page(BaseModel, Generic[T]):
    """One numbered page of a list, with the total count (for admin tables)."""

    items: list[T]
    total: int
    page: int = Field(ge=1)
    page_size: int = Field(ge=1)


def encode_cursor(moment: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([moment.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Reverse of `encode_cursor`; a tampered or foreign cursor is a 422, never a 500."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment, row_id = json.loads(raw)
        if not isinstance(moment, str) or not isinstance(row_id, str):
            raise ValueError("not a cursor")
        parsed = datetime.fromisoformat(moment)
        # Only moments this server can have written (and PostgreSQL can compare without overflow).
        if parsed.tzinfo is None or not 1970 <= parsed.year <= 9000:
            raise ValueError("not a cursor timestamp")
        return parsed, uuid.UUID(row_id)
    except (ValueError, TypeError, AttributeError, binascii.Error, json.JSONDecodeError) as exc:
        raise Unprocessable("cursor: not a cursor this server issued") from exc


def encode_position(position: int) -> str:
    """A cursor for lists ordered by an integer position."""
    return base64.urlsafe_b64encode(json.dumps(["p", position]).encode()).decode().rstrip("=")


def decode_position(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tag, position = json.loads(raw)
        if tag != "p" or type(position) is not int or not 0 < position < 2**63:
            raise ValueError("not a position cursor")
        return position
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise Unprocessable("cursor: not a cursor this server issued") from exc
