"""Server-sent events, encoded by hand: one small bytes object per event, no per-token model objects."""

from __future__ import annotations

import json
from typing import Any

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def encode_event(event: str, data: dict[str, Any], *, event_id: str | None = None) -> bytes:
    """`id:`, `event:` and a single-line JSON `data:` (JSON escapes newlines, so one line is always enough)."""
    head = f"id: {event_id}\nevent: {event}\n" if event_id is not None else f"event: {event}\n"
    return f"{head}data: {_dumps(data)}\n\n".encode()


def encode_comment(text: str) -> bytes:
    """A comment line: keeps idle connections open through proxies."""
    return f": {text}\n\n".encode()


SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: pass events through as they come
}
