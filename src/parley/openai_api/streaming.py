"""Chat Completions streamed (`stream: true`): one `_ChoiceStream` per choice, interleaved by `CompletionStream`
into OpenAI's `chat.completion.chunk` events, with the HTTP status held until the first token (see
`CompletionStream.open`). What an answer costs is recorded through `service` as for a whole completion."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from dataclasses import replace
from typing import Any

import anyio

from parley.kit.sse import compact_json, data_event
from parley.llm.base import (
    Finish,
    ProviderError,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from parley.llm.response_cache import CacheHit
from parley.llm.router import ModelSwitch, RoutedEvent
from parley.openai_api import service
from parley.openai_api.admission import Admitted, Gate
from parley.openai_api.documents import DocumentSources
from parley.openai_api.errors import failure_status, openai_error_body
from parley.openai_api.open_streams import OpenStreams
from parley.openai_api.service import Accounting
from parley.openai_api.tool_chunks import ToolCallChunks


class _ChoiceStream:
    """One choice of a streamed completion, whose HTTP status waits for the first thing worth sending.

    `open()` reads the router until the first token (or the finish of an empty answer), so a request whose every
    model fails before anything was sent raises there and gets a real error status (429, 502…) that SDKs turn
    into their status errors and retry; only once something is ready does `chunks()` answer 200 and stream
    `chat.completion.chunk` events in OpenAI's exact format, then `data: [DONE]`. A failure after that can
    only be told in the stream, as OpenAI does. With `sources`, a chunk whose delta holds only `citations`
    comes right before the one with the finish reason."""

    def __init__(
        self,
        gate: Gate,
        admitted: Admitted,
        *,
        include_usage: bool,
        open_streams: OpenStreams | None = None,
        sources: DocumentSources | None = None,
        index: int = 0,
        stream_id: str | None = None,
        created: int | None = None,
        trailer: bool = True,
    ) -> None:
        router, database, ledger = gate.parts.router, gate.parts.database, gate.parts.ledger
        principal, model, request = gate.principal, admitted.model, admitted.request
        reservation, shield = admitted.reservation, admitted.shield
        self._router = router
        # The choice's index in every chunk; `trailer`: this stream ends the response (the usage chunk and
        # `[DONE]`, the reservation settled), else the `CompletionStream` gathering the choices does.
        self._index = index
        self._trailer = trailer
        # Puts pseudonyms back into the deltas (README, "PII"); None: the text goes out as the model wrote it.
        self._restorer = shield.restorer() if shield is not None else None
        self._tool_chunks = ToolCallChunks(shield)
        self._database = database
        self._ledger = ledger
        self._principal = principal
        self._request = request
        self._include_usage = include_usage
        self._accounting = Accounting(
            model=model.config.name, reservation=reservation, capped=admitted.capped, settles=trailer
        )
        self._sources = sources
        self._logprobs = request.params.logprobs
        # The answer's text, kept only to see which sources it cites (`[n]`).
        self._said: list[str] | None = None
        if sources is not None:
            self._said = []
        if sources is not None and index == 0:  # the documents' summaries are counted once
            self._accounting.abandoned.extend(sources.grounding.spent)
            self._said = []
        self._events = router.answer(
            model,
            request,
            user_id=principal.user_id,
            allowed=service.plan_models(reservation),
            grounded=sources is not None,
            fresh=request.params.logprobs,  # a stored answer has no log probabilities
        )
        self._first: RoutedEvent | None = None
        self._id = stream_id or service.completion_id()
        self._created = created or int(time.time())
        self._open_streams = open_streams
        # Set by `stop` (the user was suspended): the stream ends at its next token with this as an error.
        self._stopped: str | None = None

    def stop(self, reason: str) -> None:
        self._stopped = reason

    async def open(self) -> _ChoiceStream:
        """Wait for the first token (fallbacks included); returns this stream, ready for `chunks()`. Raises
        `ProviderError`, with the attempt recorded, when no model could start the answer."""
        try:
            async for event in self._events:
                if isinstance(event, ModelSwitch):
                    service.switched(self._accounting, event)
                    continue
                if isinstance(event, CacheHit):
                    self._accounting.cache_hit = True
                    continue
                self._first = event
                return self
        except BaseException:
            # Nothing will be streamed: close the upstream call now and count what was spent (nothing, unless
            # a fallback broke after generating).
            with anyio.CancelScope(shield=True):
                await self._events.aclose()
                await service.record_usage(
                    self._database, self._ledger, self._router, self._principal, self._request, self._accounting
                )
            raise
        raise ProviderError("the model's stream ended without a finish", retryable=True)

    async def discard(self) -> None:
        """Close an opened choice that will not be streamed (another choice of the request could not start),
        counting what it spent."""
        with anyio.CancelScope(shield=True):
            await self._events.aclose()
            await service.record_usage(
                self._database, self._ledger, self._router, self._principal, self._request, self._accounting
            )

    def _chunk(
        self, delta: dict[str, Any], finish_reason: str | None = None, logprobs: dict[str, Any] | None = None
    ) -> bytes:
        payload = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._accounting.model,
            "system_fingerprint": None,
            "choices": [{"index": self._index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}],
        }
        notice = self._accounting.notice(finish_reason)
        if notice is not None:
            # Beside OpenAI's fields (clients ignore it): why a `length` finish came early.
            payload["limit"] = notice
        return data_event(payload)

    def _citations_chunk(self) -> bytes:
        """The answer's citations (Parley's extension), in a chunk of their own before the finish."""
        assert self._sources is not None
        return self._chunk({"citations": self._sources.citations("".join(self._said or ()))})

    def _frame(self) -> tuple[bytes, bytes]:
        """Text chunks share everything but the text: the frame is encoded once per model, the text spliced in."""
        head, _, tail = self._chunk({"content": "\x00"}).partition(b'"\\u0000"')
        return head, tail

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body of the 200 response, after a successful `open()`."""
        accounting = self._accounting
        parts = 0
        user_id = self._principal.user_id
        if self._open_streams is not None:
            self._open_streams.track(user_id, self)
        try:
            yield self._chunk({"role": "assistant", "content": ""})
            prefix, suffix = self._frame()
            first = self._first
            restorer = self._restorer
            said = self._said
            if type(first) is TextDelta:
                accounting.ttft_ms = int((time.monotonic() - accounting.started) * 1000)
                parts += 1
                text = first.text if restorer is None else restorer.feed(first.text)
                if self._logprobs:
                    if said is not None:
                        said.append(text)
                    yield self._chunk({"content": text}, logprobs=service.logprobs_body(first.logprobs))
                elif text:
                    if said is not None:
                        said.append(text)
                    yield prefix + compact_json(text).encode() + suffix
            elif type(first) is ToolCallDelta:
                accounting.ttft_ms = int((time.monotonic() - accounting.started) * 1000)
                parts += 1
                yield self._chunk(self._tool_chunks.delta(first))
            elif isinstance(first, Finish):
                accounting.usage = first.usage
                if self._sources is not None:
                    yield self._citations_chunk()
                yield self._chunk({}, first.reason)
            async for event in self._events:
                if self._stopped is not None:
                    break
                if type(event) is TextDelta:
                    if accounting.ttft_ms is None:
                        accounting.ttft_ms = int((time.monotonic() - accounting.started) * 1000)
                    parts += 1
                    text = event.text if restorer is None else restorer.feed(event.text)
                    if self._logprobs:
                        if said is not None:
                            said.append(text)
                        yield self._chunk({"content": text}, logprobs=service.logprobs_body(event.logprobs))
                    elif text:
                        if said is not None:
                            said.append(text)
                        yield prefix + compact_json(text).encode() + suffix
                elif type(event) is ToolCallDelta:
                    if accounting.ttft_ms is None:
                        accounting.ttft_ms = int((time.monotonic() - accounting.started) * 1000)
                    parts += 1
                    yield self._chunk(self._tool_chunks.delta(event))
                elif isinstance(event, ModelSwitch):
                    service.switched(accounting, event)
                    parts = 0  # what the abandoned model generated is in its own record
                    prefix, suffix = self._frame()
                elif isinstance(event, Finish):
                    if restorer is not None and (tail := restorer.flush()):
                        if said is not None:
                            said.append(tail)
                        yield prefix + compact_json(tail).encode() + suffix
                    for delta in self._tool_chunks.flush():
                        yield self._chunk(delta)
                    accounting.usage = event.usage
                    accounting.completion_parts = parts
                    if self._sources is not None:
                        yield self._citations_chunk()
                    yield self._chunk({}, event.reason)
            accounting.completion_parts = parts
            if self._stopped is not None:
                yield data_event(openai_error_body(403, self._stopped))
            elif self._include_usage and self._trailer:
                payload = {
                    "id": self._id,
                    "object": "chat.completion.chunk",
                    "created": self._created,
                    "model": accounting.model,
                    "system_fingerprint": None,
                    "choices": [],
                    "usage": service.usage_body(service.final_usage(accounting)),
                }
                yield data_event(payload)
        except ProviderError as exc:
            yield data_event(openai_error_body(failure_status(exc), str(exc)))
        finally:
            if self._open_streams is not None:
                self._open_streams.untrack(user_id, self)
            accounting.completion_parts = parts
            # Shielded: a client that hung up still gets its tokens counted.
            with anyio.CancelScope(shield=True):
                await self._events.aclose()
                await service.record_usage(
                    self._database, self._ledger, self._router, self._principal, self._request, accounting
                )
        if self._trailer:
            yield b"data: [DONE]\n\n"

    @property
    def accounting(self) -> Accounting:
        return self._accounting


class CompletionStream:
    """A streamed completion of `request.choices` choices whose HTTP status waits for the first thing worth
    sending (see `_ChoiceStream`). Several choices are generations of their own, run concurrently: their chunks
    come interleaved as they are generated, each carrying its choice's `index` (as OpenAI streams them), then one
    usage chunk summing them all (the prompt once per choice: each call was billed for it) and `[DONE]`. The
    status waits until every choice has started; one that cannot start fails the request."""

    def __init__(
        self,
        gate: Gate,
        admitted: Admitted,
        *,
        include_usage: bool,
        open_streams: OpenStreams | None = None,
        sources: DocumentSources | None = None,
    ) -> None:
        count = admitted.request.choices
        stream_id, created = service.completion_id(), int(time.time())
        single = replace(admitted, request=replace(admitted.request, choices=1))
        self._database = gate.parts.database
        self._ledger = gate.parts.ledger
        self._reservation = admitted.reservation
        self._include_usage = include_usage
        self._id, self._created = stream_id, created
        self._choices = [
            _ChoiceStream(
                gate,
                single,
                include_usage=include_usage,
                open_streams=open_streams,
                sources=sources,
                index=index,
                stream_id=stream_id,
                created=created,
                trailer=count == 1,
            )
            for index in range(count)
        ]

    def stop(self, reason: str) -> None:
        for choice in self._choices:
            choice.stop(reason)

    async def open(self) -> CompletionStream:
        """Wait for every choice's first token; raises `ProviderError` (what was spent recorded) when one of them
        cannot start."""
        if len(self._choices) == 1:
            await self._choices[0].open()
            return self
        opening = [asyncio.create_task(choice.open()) for choice in self._choices]
        try:
            await asyncio.gather(*opening)
        except BaseException:
            for task in opening:
                task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(*opening, return_exceptions=True)
                for choice, task in zip(self._choices, opening, strict=True):
                    if not task.cancelled() and task.exception() is None:
                        await choice.discard()
                await service.settle(self._database, self._ledger, self._reservation)
            raise
        return self

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body of the 200 response, after a successful `open()`."""
        if len(self._choices) == 1:
            async for piece in self._choices[0].chunks():
                yield piece
            return
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()

        async def pump(choice: _ChoiceStream) -> None:
            try:
                async for chunk in choice.chunks():
                    await queue.put(chunk)
            finally:
                queue.put_nowait(None)

        pumps = [asyncio.create_task(pump(choice)) for choice in self._choices]
        try:
            running = len(pumps)
            while running:
                chunk = await queue.get()
                if chunk is None:
                    running -= 1
                else:
                    yield chunk
            if self._include_usage:
                usages = [service.final_usage(choice.accounting) for choice in self._choices]
                payload = {
                    "id": self._id,
                    "object": "chat.completion.chunk",
                    "created": self._created,
                    "model": self._choices[0].accounting.model,
                    "system_fingerprint": None,
                    "choices": [],
                    "usage": service.usage_body(
                        Usage(sum(u.prompt_tokens for u in usages), sum(u.completion_tokens for u in usages))
                    ),
                }
                yield data_event(payload)
        finally:
            for task in pumps:
                task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(*pumps, return_exceptions=True)
                await service.settle(self._database, self._ledger, self._reservation)
        yield b"data: [DONE]\n\n"
