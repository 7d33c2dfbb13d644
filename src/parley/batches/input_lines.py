"""Reading a batch's input file: JSONL, one request a line, as OpenAI's Batch API takes it
(`{"custom_id", "method": "POST", "url": <the batch's endpoint>, "body": {...}}`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from parley.errors import BadRequest

MAX_CUSTOM_ID_CHARS = 512


@dataclass(frozen=True, slots=True)
class InputLine:
    """One request of a batch: its number in the file (1-based, blank lines counted), the caller's id, its body."""

    number: int
    custom_id: str
    body: dict[str, Any]


class InvalidInputFile(BadRequest):
    """A batch's input file that cannot run: 400 naming the first bad line (`param: input_file_id`)."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        where = f"line {line} of the input file: " if line is not None else "the input file: "
        super().__init__(where + message, param="input_file_id", line=line)


def parse_lines(data: bytes, *, endpoint: str, max_lines: int) -> list[InputLine]:
    """Every request of the file, checked: valid JSON objects with a unique `custom_id`, `method` POST, `url` the
    batch's endpoint and an object `body`; blank lines are skipped. Raises `InvalidInputFile` at the first bad line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputFile("not UTF-8 text") from exc
    lines: list[InputLine] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        line = _parse_line(raw, number, endpoint)
        if line.custom_id in seen:
            raise InvalidInputFile(
                f"custom_id '{line.custom_id}' is used by an earlier line; each must be unique", line=number
            )
        seen.add(line.custom_id)
        lines.append(line)
        if len(lines) > max_lines:
            raise InvalidInputFile(f"a batch holds at most {max_lines} requests", line=number)
    if not lines:
        raise InvalidInputFile("it holds no requests")
    return lines


def _parse_line(raw: str, number: int, endpoint: str) -> InputLine:
    try:
        request = json.loads(raw)
    except json.JSONDecodeError:
        raise InvalidInputFile("not valid JSON", line=number) from None
    if not isinstance(request, dict):
        raise InvalidInputFile("must be a JSON object", line=number)
    custom_id = request.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise InvalidInputFile("custom_id must be a non-empty string", line=number)
    if len(custom_id) > MAX_CUSTOM_ID_CHARS:
        raise InvalidInputFile(f"custom_id is longer than {MAX_CUSTOM_ID_CHARS} characters", line=number)
    if request.get("method") != "POST":
        raise InvalidInputFile("method must be POST", line=number)
    if request.get("url") != endpoint:
        raise InvalidInputFile(f"url must be the batch's endpoint, {endpoint}", line=number)
    body = request.get("body")
    if not isinstance(body, dict):
        raise InvalidInputFile("body must be a JSON object (the request to the endpoint)", line=number)
    return InputLine(number, custom_id, body)
