"""Messages for Anthropic clients: routed, limited and counted exactly as `/v1/chat/completions` (its service
does the work of a whole answer; this one words it as Anthropic's Message object and streams Anthropic's events).
Stateless like `/v1`: no conversation is stored."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from parley.anthropic_api.errors import anthropic_error_body, failure_status
from parley.chat.privacy import Shield
from parley.kit.sse import encode_event
from parley.llm.base import Finish, ProviderError, TextDelta, ToolCallDelta, Usage
from parley.openai_api.routed_answer import RoutedAnswer
from parley.openai_api.service import final_usage
from parley.privacy.redaction import StreamRestorer

_quote = json.encoder.encode_basestring
# Parley's finish reasons as Anthropic's stop reasons. A stop is a `stop_sequence` when the model says which of
# the request's sequences it met (`Finish.stop_sequence`), else an `end_turn`.
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


def message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def stop_reason(finish: str, stop_sequence: str | None = None) -> str:
    if finish == "stop" and stop_sequence is not None:
        return "stop_sequence"
    return STOP_REASONS.get(finish, "end_turn")


def tool_input(arguments: str) -> dict[str, Any]:
    """A call's arguments as the object Anthropic's `input` is. A model can write text that is no JSON object:
    it is kept whole under `arguments`, for the caller to see, rather than dropped."""
    try:
        parsed = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {"arguments": arguments}
    return parsed if isinstance(parsed, dict) else {"arguments": arguments}


def usage_body(usage: Usage) -> dict[str, int]:
    # Parley has no prompt cache: nothing is ever written to or read from one.
    return {
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def whole_message(completion: dict[str, Any]) -> dict[str, Any]:
    """A `chat.completion` (`openai_api.service.complete`, pseudonyms already put back) as a Message."""
    choice = completion["choices"][0]
    message = choice["message"]
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or ():
        function = call["function"]
        content.append(
            {"type": "tool_use", "id": call["id"], "name": function["name"], "input": tool_input(function["arguments"])}
        )
    usage = completion["usage"]
    body: dict[str, Any] = {
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": completion["model"],
        "content": content,
        "stop_reason": stop_reason(choice["finish_reason"], choice.get("stop_reason")),
        "stop_sequence": choice.get("stop_reason"),
        "usage": usage_body(Usage(usage["prompt_tokens"], usage["completion_tokens"])),
    }
    if "limit" in completion:
        body["limit"] = completion["limit"]  # beside Anthropic's fields: why a `max_tokens` stop came early
    return body


def _event(name: str, data: dict[str, Any]) -> bytes:
    return encode_event(name, data)


class MessageStream:
    """A streamed message whose HTTP status waits for the first thing worth sending, as `CompletionStream` does
    for Chat Completions: `open()` reads the router until the first token, so a request no model could start
    fails with an error status SDKs retry; `events()` then streams Anthropic's events in order (message_start,
    ping, per content block content_block_start / _delta… / _stop, message_delta with the stop reason and usage,
    message_stop). A failure after that is an `error` event, as Anthropic sends it."""

    def __init__(self, answer: RoutedAnswer, *, prompt_estimate: int, shield: Shield | None = None) -> None:
        self._prompt_estimate = prompt_estimate
        self._shield = shield
        # The router's events and the usage they add up to: the bookkeeping every /v1 stream shares.
        self._answer = answer
        # The content blocks: the one open now (-1: none), and its kind.
        self._block = -1
        self._block_kind: str | None = None
        # Parley's call index → its tool_use block, and each call's pseudonym restorer.
        self._call_blocks: dict[int, int] = {}
        self._call_restorers: dict[int, StreamRestorer | None] = {}
        self._text_restorer = shield.restorer() if shield is not None else None

    def stop(self, reason: str) -> None:
        """The user was suspended: the stream ends at its next token with `reason` as an error."""
        self._answer.stop(reason)

    async def open(self) -> MessageStream:
        """Wait for the first token (fallbacks included). Raises `ProviderError`, with the attempt recorded, when
        no model could start the answer."""
        await self._answer.open()
        return self

    def _close_block(self) -> list[bytes]:
        if self._block < 0 or self._block_kind is None:
            return []
        out = []
        if self._block_kind == "text" and self._text_restorer is not None and (tail := self._text_restorer.flush()):
            out.append(self._text_delta(tail))
        elif self._block_kind == "tool_use":
            for call, block in self._call_blocks.items():
                restorer = self._call_restorers.get(call)
                if block == self._block and restorer is not None and (tail := restorer.flush()):
                    out.append(self._json_delta(tail, block))
        out.append(_event("content_block_stop", {"type": "content_block_stop", "index": self._block}))
        self._block_kind = None
        return out

    def _text_delta(self, text: str) -> bytes:
        return (
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
            + str(self._block).encode()
            + b',"delta":{"type":"text_delta","text":'
            + _quote(text).encode()
            + b"}}\n\n"
        )

    def _json_delta(self, partial: str, block: int) -> bytes:
        return (
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
            + str(block).encode()
            + b',"delta":{"type":"input_json_delta","partial_json":'
            + _quote(partial).encode()
            + b"}}\n\n"
        )

    def _on_text(self, event: TextDelta) -> list[bytes]:
        out: list[bytes] = []
        if self._block_kind != "text":
            out.extend(self._close_block())
            self._block += 1
            self._block_kind = "text"
            out.append(
                _event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": self._block,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
        text = event.text if self._text_restorer is None else self._text_restorer.feed(event.text)
        if text:
            out.append(self._text_delta(text))
        return out

    def _on_call(self, event: ToolCallDelta) -> list[bytes]:
        out: list[bytes] = []
        if event.index not in self._call_blocks:
            out.extend(self._close_block())
            self._block += 1
            self._block_kind = "tool_use"
            self._call_blocks[event.index] = self._block
            self._call_restorers[event.index] = self._shield.restorer() if self._shield is not None else None
            block = {
                "type": "tool_use",
                "id": event.id or f"toolu_{uuid.uuid4().hex}",
                "name": event.name or "",
                "input": {},
            }
            out.append(
                _event(
                    "content_block_start", {"type": "content_block_start", "index": self._block, "content_block": block}
                )
            )
        restorer = self._call_restorers[event.index]
        arguments = event.arguments if restorer is None else restorer.feed(event.arguments)
        if arguments:
            # A provider interleaving its calls' pieces: each piece still goes to its own call's block.
            out.append(self._json_delta(arguments, self._call_blocks[event.index]))
        return out

    async def events(self) -> AsyncGenerator[bytes, None]:
        """The body of the 200 response, after a successful `open()`."""
        answer = self._answer
        accounting = answer.accounting
        start: dict[str, Any] = {
            "id": message_id(),
            "type": "message",
            "role": "assistant",
            "model": accounting.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_body(Usage(self._prompt_estimate, 0)),
        }
        yield _event("message_start", {"type": "message_start", "message": start})
        yield _event("ping", {"type": "ping"})
        try:
            async with aclosing(answer.events()) as events:
                async for event in events:
                    if type(event) is TextDelta:
                        for chunk in self._on_text(event):
                            yield chunk
                    elif type(event) is ToolCallDelta:
                        for chunk in self._on_call(event):
                            yield chunk
                    elif isinstance(event, Finish):
                        for chunk in self._close_block():
                            yield chunk
                        delta: dict[str, Any] = {
                            "type": "message_delta",
                            "delta": {
                                "stop_reason": stop_reason(event.reason, event.stop_sequence),
                                "stop_sequence": event.stop_sequence,
                            },
                            "usage": usage_body(final_usage(accounting)),
                        }
                        notice = accounting.notice("length" if event.reason == "length" else None)
                        if notice is not None:
                            delta["limit"] = notice
                        yield _event("message_delta", delta)
                        yield _event("message_stop", {"type": "message_stop"})
            if answer.stopped is not None:
                yield _event("error", anthropic_error_body(403, answer.stopped))
        except ProviderError as exc:
            yield _event("error", anthropic_error_body(failure_status(exc), str(exc)))
