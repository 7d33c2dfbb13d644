"""A streamed response in the Responses API's events, each with its `sequence_number`: `response.created`,
`response.in_progress`; per output item `response.output_item.added`, then for a message
`response.content_part.added`, `response.output_text.delta`…, `response.output_text.done`,
`response.content_part.done`, for a function call `response.function_call_arguments.delta`…,
`response.function_call_arguments.done`, and `response.output_item.done`; last `response.completed` (or
`response.incomplete` when the answer was cut by `max_output_tokens`) holding the whole response, as the SDKs'
stream helpers assemble it. A failure after the first event is `response.failed`, as OpenAI sends it (before it,
the request gets an error status: see `RoutedAnswer`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import anyio

from parley.chat.privacy import Shield
from parley.kit.sse import encode_event
from parley.llm.base import Finish, ProviderError, TextDelta, ToolCallDelta
from parley.openai_api.routed_answer import RoutedAnswer
from parley.openai_api.service import final_usage
from parley.privacy.redaction import StreamRestorer
from parley.responses_api.objects import ResponseRecord, function_call_item, message_item, output_text
from parley.responses_api.translate import item_id


@dataclass
class _Writing:
    """An output item being streamed: its text (or arguments) so far, and its pseudonym restorer."""

    restorer: StreamRestorer | None
    pieces: list[str] = field(default_factory=list)


class ResponseStream:
    """The events of one streamed response (see the module's docstring). `keep` stores the finished response
    (`store: true`), shielded from the client's hang-up."""

    def __init__(
        self,
        answer: RoutedAnswer,
        record: ResponseRecord,
        *,
        shield: Shield | None,
        keep: Callable[[ResponseRecord], Awaitable[None]] | None,
    ) -> None:
        self._answer = answer
        self._record = record
        self._shield = shield
        self._keep = keep
        self._sequence = 0
        # The output items being written, by output index: their pieces so far and pseudonym restorer. A message
        # is open until a call begins; calls stay open until the answer ends, since a provider may interleave the
        # pieces of several calls.
        self._open: dict[int, _Writing] = {}
        self._message: int | None = None
        self._calls: dict[int, int] = {}

    async def open(self) -> ResponseStream:
        await self._answer.open()
        return self

    def _event(self, kind: str, **data: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self._sequence, **data}
        self._sequence += 1
        return encode_event(kind, payload)

    def _open_item(self, item: dict[str, Any]) -> tuple[int, list[bytes]]:
        index = len(self._record.output)
        self._record.output.append(item)
        self._open[index] = _Writing(self._shield.restorer() if self._shield is not None else None)
        out = [self._event("response.output_item.added", output_index=index, item=item)]
        if item["type"] == "message":
            out.append(
                self._event(
                    "response.content_part.added",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    part=output_text(""),
                )
            )
        return index, out

    def _piece(self, index: int, text: str, *, restore: bool = True) -> list[bytes]:
        writing = self._open[index]
        if restore and writing.restorer is not None:
            text = writing.restorer.feed(text)
        if not text:
            return []
        writing.pieces.append(text)
        item = self._record.output[index]
        if item["type"] == "message":
            return [
                self._event(
                    "response.output_text.delta",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    delta=text,
                    logprobs=[],
                )
            ]
        return [
            self._event("response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=text)
        ]

    def _close_item(self, index: int) -> list[bytes]:
        writing = self._open[index]
        out: list[bytes] = []
        if writing.restorer is not None and (tail := writing.restorer.flush()):
            out += self._piece(index, tail, restore=False)
        del self._open[index]
        item, whole = self._record.output[index], "".join(writing.pieces)
        if item["type"] == "message":
            done = message_item(whole, item=item["id"])
            out.append(
                self._event(
                    "response.output_text.done",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    text=whole,
                    logprobs=[],
                )
            )
            out.append(
                self._event(
                    "response.content_part.done",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    part=done["content"][0],
                )
            )
        else:
            done = function_call_item(item["call_id"], item["name"], whole, item=item["id"])
            out.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    name=item["name"],
                    arguments=whole,
                )
            )
        self._record.output[index] = done
        out.append(self._event("response.output_item.done", output_index=index, item=done))
        return out

    def _close_all(self) -> list[bytes]:
        out: list[bytes] = []
        for index in sorted(self._open):
            out += self._close_item(index)
        self._message = None
        return out

    def _on_text(self, event: TextDelta) -> list[bytes]:
        out: list[bytes] = []
        if self._message is None:
            out += self._close_all()  # text after calls: a message of its own, after them
            self._message, opened = self._open_item({**message_item("", status="in_progress"), "content": []})
            out += opened
        return out + self._piece(self._message, event.text)

    def _on_call(self, event: ToolCallDelta) -> list[bytes]:
        out: list[bytes] = []
        index = self._calls.get(event.index)
        if index is None or index not in self._open:
            if self._message is not None:
                out += self._close_item(self._message)
                self._message = None
            item = {
                "id": item_id("fc"),
                "type": "function_call",
                "status": "in_progress",
                "call_id": event.id or item_id("call"),
                "name": event.name or "",
                "arguments": "",
            }
            index, opened = self._open_item(item)
            self._calls[event.index] = index
            out += opened
        return out + self._piece(index, event.arguments)

    async def events(self) -> AsyncGenerator[bytes, None]:
        """The body of the 200 response, after a successful `open()`."""
        record, answer = self._record, self._answer
        yield self._event("response.created", response=record.body())
        yield self._event("response.in_progress", response=record.body())
        finished = False
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
                        for chunk in self._close_all():
                            yield chunk
                        record.finish(event.reason, final_usage(answer.accounting), model=answer.accounting.model)
                        record.limit = answer.accounting.notice(event.reason)
                        finished = True
            if answer.stopped is not None:
                record.fail(answer.stopped)
            elif not finished:
                record.fail("the model's stream ended without a finish")
        except ProviderError as exc:
            record.fail(str(exc))
        if record.status == "failed":
            yield self._event("response.failed", response=record.body())
            return
        if self._keep is not None:
            with anyio.CancelScope(shield=True):
                await self._keep(record)
        kind = "response.completed" if record.status == "completed" else "response.incomplete"
        yield self._event(kind, response=record.body())
