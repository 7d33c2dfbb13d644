"""Reading server-sent events the way a browser's EventSource does."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Event:
    id: str | None
    event: str
    data: dict[str, Any]


def parse_events(text: str) -> list[Event]:
    events = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if "data" in fields:
            events.append(Event(fields.get("id"), fields.get("event", "message"), json.loads(fields["data"])))
    return events


async def collect(response: httpx.Response) -> list[Event]:
    body = ""
    async for chunk in response.aiter_text():
        body += chunk
    return parse_events(body)


def answer_text(events: list[Event]) -> str:
    return "".join(e.data["text"] for e in events if e.event == "delta")
