"""One streamed answer from the router, as every `/v1` surface that streams in its own event format reads it
(Anthropic's messages, OpenAI's Responses): the bookkeeping shared by all of them, kept in one place.

`open()` reads the router until the first token (or the finish of an empty answer), so a request whose every
model fails before anything was sent raises `ProviderError` there and the endpoint answers with an error status
SDKs retry on. `events()` then yields only what the surface words: `TextDelta`, `ToolCallDelta` and the `Finish`
(with the usage it reports), having taken care of fallbacks (`ModelSwitch`: what the abandoned model spent is
recorded apart), cache hits, the time to first token and the count of generated pieces; when it ends, however it
ends (finished, failed, the client gone), the usage is recorded and the quota hold settled, shielded from the
cancellation. A user suspended meanwhile ends the events early: `stopped` then says why."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator

import anyio

from parley.auth.principal import Principal
from parley.db import Database
from parley.llm.base import ChatRequest, Finish, ProviderError, TextDelta, ToolCallDelta
from parley.llm.registry import RegisteredModel
from parley.llm.response_cache import CacheHit
from parley.llm.router import ModelSwitch, RoutedEvent, Router
from parley.openai_api.open_streams import OpenStreams
from parley.openai_api.service import Accounting, record_usage, switched
from parley.quotas.ledger import Ledger
from parley.quotas.service import Reservation

AnswerEvent = TextDelta | ToolCallDelta | Finish


class RoutedAnswer:
    """A streamed answer's events and accounting (see the module's docstring)."""

    def __init__(
        self,
        router: Router,
        database: Database,
        ledger: Ledger,
        principal: Principal,
        model: RegisteredModel,
        request: ChatRequest,
        *,
        open_streams: OpenStreams | None = None,
        reservation: Reservation | None = None,
        capped: bool = False,
    ) -> None:
        self._router = router
        self._database = database
        self._ledger = ledger
        self._principal = principal
        self._request = request
        self._open_streams = open_streams
        self.accounting = Accounting(model=model.config.name, reservation=reservation, capped=capped)
        allowed = reservation.plan.plan.models if reservation is not None else None
        self._events = router.answer(model, request, user_id=principal.user_id, allowed=allowed)
        self._first: RoutedEvent | None = None
        self.stopped: str | None = None

    def stop(self, reason: str) -> None:
        """The user was suspended: the events end at the next one, and `stopped` says why."""
        self.stopped = reason

    async def open(self) -> RoutedAnswer:
        """Wait for the first token (fallbacks included). Raises `ProviderError`, with the attempt recorded, when
        no model could start the answer."""
        try:
            async for event in self._events:
                if isinstance(event, ModelSwitch):
                    switched(self.accounting, event)
                    continue
                if isinstance(event, CacheHit):
                    self.accounting.cache_hit = True
                    continue
                self._first = event
                return self
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._events.aclose()
                await self._record()
            raise
        raise ProviderError("the model's stream ended without a finish", retryable=True)

    async def _record(self) -> None:
        await record_usage(self._database, self._ledger, self._router, self._principal, self._request, self.accounting)

    async def events(self) -> AsyncGenerator[AnswerEvent, None]:
        """The answer's pieces after a successful `open()`; a `ProviderError` mid-answer is raised to the caller,
        which tells it in its stream. Close it (`contextlib.aclosing`) so that the usage is recorded at once."""
        accounting = self.accounting
        parts = 0
        user_id = self._principal.user_id
        if self._open_streams is not None:
            self._open_streams.track(user_id, self)
        try:
            pending, self._first = self._first, None
            while self.stopped is None:
                if pending is not None:
                    event, pending = pending, None
                else:
                    try:
                        event = await anext(self._events)
                    except StopAsyncIteration:
                        break
                if self.stopped is not None:
                    break
                if type(event) is TextDelta or type(event) is ToolCallDelta:
                    if accounting.ttft_ms is None:
                        accounting.ttft_ms = int((time.monotonic() - accounting.started) * 1000)
                    parts += 1
                    yield event
                elif isinstance(event, ModelSwitch):
                    switched(accounting, event)
                    parts = 0  # what the abandoned model generated is in its own record
                elif isinstance(event, CacheHit):
                    accounting.cache_hit = True
                elif isinstance(event, Finish):
                    accounting.usage = event.usage
                    accounting.completion_parts = parts
                    yield event
        finally:
            if self._open_streams is not None:
                self._open_streams.untrack(user_id, self)
            accounting.completion_parts = parts
            # Shielded: a client that hung up still gets its tokens counted.
            with anyio.CancelScope(shield=True):
                await self._events.aclose()
                await self._record()
