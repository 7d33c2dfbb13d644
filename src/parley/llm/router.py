"""Routing: which model answers, and what happens when it fails.

For each request the router tries the chosen model, retrying retryable failures (429, 5xx, timeouts) with
jittered backoff while nothing has been streamed yet; then it walks the model's fallback chain. A stream that
breaks after tokens were sent continues on the next model: the client sees one answer and a `ModelSwitch`.
Each model has a circuit breaker, so a model that keeps failing is skipped until it has had time to recover.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import AsyncGenerator, Collection, Sequence
from dataclasses import dataclass, replace

import structlog
from opentelemetry.trace import Span

from parley.config import LLMSettings
from parley.errors import NotFound
from parley.llm.base import (
    ChatEvent,
    ChatMessage,
    ChatRequest,
    Completion,
    Finish,
    ProviderError,
    TextDelta,
    ToolCallAssembler,
    ToolCallDelta,
    Usage,
    unreported_usage,
)
from parley.llm.capabilities import unfit
from parley.llm.config import AUTO_MODEL, ModelConfig
from parley.llm.registry import ModelRegistry, RegisteredModel
from parley.llm.response_cache import (
    STORED_REASONS,
    CachedAnswer,
    CacheHit,
    ResponseCache,
    cache_key,
    cacheable,
    replay,
)
from parley.metrics import instruments as metrics
from parley.tracing import spans as tracing

_logger = structlog.get_logger("parley.llm.router")
_CONTINUE_PROMPT = (
    "Your previous answer was cut off. Continue it exactly where it stopped, without repeating anything and "
    "without any preamble."
)


@dataclass(frozen=True, slots=True)
class ModelSwitch:
    """The answer continues on another model. `spent` estimates what the abandoned attempt consumed."""

    from_model: str
    to_model: str
    reason: str
    spent: Usage | None


# `CacheHit` comes only from `Router.answer`, first, when the answer is replayed from the response cache.
RoutedEvent = TextDelta | ToolCallDelta | Finish | ModelSwitch | CacheHit


class AllModelsFailed(ProviderError):
    """Every model of the chain failed or was unavailable."""


class CircuitBreaker:
    """Closed: calls pass. After `threshold` consecutive failures: open (calls skip this model) for
    `cooldown` seconds, then half-open: one trial call decides."""

    def __init__(self, threshold: int, cooldown: float) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.failures = 0
        self.opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None and time.monotonic() - self.opened_at < self.cooldown

    @property
    def seconds_until_trial(self) -> float:
        """How long until an open circuit lets a trial call through (0 when it is not open)."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown - (time.monotonic() - self.opened_at))

    def allows(self) -> bool:
        if self.opened_at is None:
            return True
        if time.monotonic() - self.opened_at < self.cooldown or self._trial_in_flight:
            return False
        self._trial_in_flight = True
        return True

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self._trial_in_flight = False

    def failure(self) -> None:
        self.failures += 1
        if self._trial_in_flight or self.failures >= self.threshold:
            self.opened_at = time.monotonic()
        self._trial_in_flight = False


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter: 0.25 s, 0.5 s, 1 s … (capped at 4 s), times 0.5 to 1.5."""
    jitter: float = random.uniform(0.5, 1.5)  # noqa: S311 (jitter, not security)
    return float(min(4.0, 0.25 * 2**attempt) * jitter)


class Router:
    def __init__(
        self, registry: ModelRegistry, settings: LLMSettings, *, response_cache: ResponseCache | None = None
    ) -> None:
        self.registry = registry
        self.settings = settings
        # Answers of models whose catalogue entry has `cache:` (None: nothing is cached).
        self.response_cache = response_cache
        self._breakers = {
            name: CircuitBreaker(settings.breaker_failure_threshold, settings.breaker_cooldown_seconds)
            for name in registry.names
        }

    def breaker(self, name: str) -> CircuitBreaker:
        # Models added to the catalogue at run time get theirs on first use.
        breaker = self._breakers.get(name)
        if breaker is None:
            breaker = CircuitBreaker(self.settings.breaker_failure_threshold, self.settings.breaker_cooldown_seconds)
            self._breakers[name] = breaker
        return breaker

    def resolve(
        self,
        requested: str | None,
        messages: Sequence[ChatMessage],
        *,
        allowed: Collection[str] | None = None,
        request: ChatRequest | None = None,
    ) -> RegisteredModel:
        """The model a request names (an alias, `auto`, or nothing for the default). Unknown names are 404.
        `auto` chooses among the `allowed` models only (the user's plan's; None: all) that can answer `request`
        as asked (its tools, response format, sampling options); a named model that cannot is refused with a
        400 naming what it lacks (`ModelLacksCapability`, `ModelRefusesOption`)."""
        catalog = self.registry.catalog
        name = requested or catalog.default_name
        if name == AUTO_MODEL:
            name = self._auto(messages, allowed, request)
        registered = self.registry.get(name)
        if registered is None:
            raise NotFound(f"model '{name}' is not configured; see GET /v1/models", param="model")
        if request is not None and (refusal := unfit(registered.config, request)) is not None:
            raise refusal
        return registered

    def _auto(
        self, messages: Sequence[ChatMessage], allowed: Collection[str] | None, request: ChatRequest | None = None
    ) -> str:
        """Short, simple prompts (no code) go to the cheapest available model; the rest to the default (or,
        when the plan does not include it, to the cheapest model it does). Only models that can answer
        `request` as asked are candidates."""
        default = self.registry.catalog.default_name
        usable = [m.config for m in self.registry if allowed is None or m.config.name in allowed]
        default_fits = allowed is None or default in allowed
        if request is not None:
            usable = [config for config in usable if unfit(config, request) is None]
            default_config = self.registry.config(default)
            default_fits = default_fits and default_config is not None and unfit(default_config, request) is None
        last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        if (len(last_user) > self.settings.auto_short_prompt_chars or "```" in last_user) and default_fits:
            return default
        candidates = [config for config in usable if not self.breaker(config.name).is_open]
        if not candidates:
            # Every usable model's circuit is open: the default (or any model of the plan) fails fast, saying so.
            candidates = [] if default_fits else usable
        if not candidates:
            return default
        cheapest = min(candidates, key=lambda c: c.price_per_1k_input + c.price_per_1k_output)
        return cheapest.name

    def _chain(self, first: ModelConfig, allowed: Collection[str] | None, request: ChatRequest) -> list[str]:
        """The model, then its fallbacks, leaving out those the user's plan does not include (`allowed`) and
        those that cannot answer `request` as asked: a fallback never answers with a model the user may not
        use, nor drops the tools, schema or options a request carries."""
        chain = [first.name]
        for name in first.fallbacks:
            config = self.registry.config(name)
            if config is not None and unfit(config, request) is not None:
                continue
            if name not in chain and (allowed is None or name in allowed):
                chain.append(name)
        return chain

    async def stream(
        self, model: RegisteredModel, request: ChatRequest, *, allowed: Collection[str] | None = None
    ) -> AsyncGenerator[RoutedEvent, None]:
        """Answer `request` with `model`, its retries and its fallbacks (those among the `allowed` models: the
        user's plan's; None: any). Raises `AllModelsFailed` when no model could finish."""
        sent: list[str] = []
        last_error: ProviderError | None = None
        previous: str | None = None
        # Tokens the previous model of the chain generated before it failed: all it can have spent.
        generated = 0
        # The model that began streaming a tool call: a call cut short cannot be continued by another model
        # (its arguments are half a JSON document), so the answer then fails instead of switching.
        calling: str | None = None
        for name in self._chain(model.config, allowed, request):
            registered = self.registry.get(name)
            breaker = self.breaker(name)
            if registered is None or not breaker.allows():
                # 503 with the time until the circuit's trial call: a client learns when trying again can help.
                last_error = last_error or ProviderError(
                    f"model {name} is unavailable (circuit open)",
                    status=503,
                    retryable=True,
                    retry_after=breaker.seconds_until_trial,
                )
                continue
            if calling is not None:
                break
            if previous is not None:
                spent = await self._estimate(previous, request, generated)
                metrics.PROVIDER_FALLBACKS.labels(model=previous, fallback=name).inc()
                yield ModelSwitch(previous, name, str(last_error) if last_error else "unavailable", spent)
            previous = name
            generated = 0
            attempt_request = request if not sent else _continuation(request, "".join(sent))
            for attempt in range(registered.config.max_retries + 1):
                streamed = 0
                # The call's span: current only while the request goes out (`_watched`), never while the caller
                # handles a token; no per-token work on it but the first token's mark.
                call = tracing.start_span(
                    "llm.call",
                    {
                        "parley.model": name,
                        "parley.provider": registered.config.provider,
                        "parley.attempt": attempt + 1,
                        "parley.fallback": name != model.config.name,
                        "parley.requested_model": model.config.name,
                    },
                )
                try:
                    async with contextlib.aclosing(_watched(registered, attempt_request, call)) as events:
                        async for event in events:
                            if type(event) is TextDelta:
                                streamed += 1
                                if streamed == 1:
                                    tracing.mark_first_token(call)
                                generated += 1
                                sent.append(event.text)
                                yield event
                            elif type(event) is ToolCallDelta:
                                if calling is None:
                                    calling = name
                                streamed += 1
                                if streamed == 1:
                                    tracing.mark_first_token(call)
                                generated += 1
                                yield event
                            else:
                                breaker.success()
                                _count_call(name, breaker, ok=True)
                                yield event
                                return
                except ProviderError as exc:
                    tracing.end(call, exc)
                    breaker.failure()
                    _count_call(name, breaker, ok=False)
                    last_error = exc
                    _logger.warning(
                        "model_call_failed",
                        model=name,
                        attempt=attempt + 1,
                        status=exc.status,
                        retryable=exc.retryable,
                        streamed_tokens=streamed,
                        error=str(exc),
                    )
                    if streamed or not exc.retryable or attempt >= registered.config.max_retries:
                        break
                    if not breaker.allows():
                        break
                    metrics.PROVIDER_RETRIES.labels(model=name).inc()
                    await asyncio.sleep(backoff_seconds(attempt))
                finally:
                    tracing.end(call)
        raise AllModelsFailed(
            f"no model could answer: {last_error}" if last_error else "no model could answer",
            status=last_error.status if last_error else None,
            retryable=True,
            retry_after=last_error.retry_after if last_error else None,
        )

    def answer(
        self,
        model: RegisteredModel,
        request: ChatRequest,
        *,
        user_id: uuid.UUID,
        grounded: bool = False,
        fresh: bool = False,
        allowed: Collection[str] | None = None,
    ) -> AsyncGenerator[RoutedEvent, None]:
        """A user's answer: `stream`, or, when the model's catalogue entry has `cache:` and the request is
        deterministic (temperature 0), the answer stored for the same request (of `user_id`, unless the entry
        shares answers) replayed after a `CacheHit`, without calling the provider; a complete answer is stored.
        `grounded` answers are never cached: their sources depend on who asks and on documents that change.
        A `fresh` answer (the user asked for another one: regenerate) is not looked up, only stored. Fallbacks
        are only among the `allowed` models (the user's plan's; None: any)."""
        cache = self.response_cache
        if cache is None or grounded or not cacheable(model.config, request):
            return self.stream(model, request, allowed=allowed)
        key = cache_key(model.config, request, user_id=user_id)
        return self._cached(cache, model, request, key, fresh=fresh, allowed=allowed)

    async def _cached(
        self,
        cache: ResponseCache,
        model: RegisteredModel,
        request: ChatRequest,
        key: str,
        *,
        fresh: bool,
        allowed: Collection[str] | None,
    ) -> AsyncGenerator[RoutedEvent, None]:
        stored = None if fresh else await cache.get(key)
        if stored is not None:
            yield CacheHit(stored.usage)
            async with contextlib.aclosing(replay(stored)) as replayed:
                async for piece in replayed:
                    yield piece
            return
        parts: list[str] = []
        switched = False
        async with contextlib.aclosing(self.stream(model, request, allowed=allowed)) as events:
            async for event in events:
                if type(event) is TextDelta:
                    parts.append(event.text)
                elif isinstance(event, ModelSwitch):
                    switched = True  # another model finishes it: not the answer of the model asked
                elif isinstance(event, Finish) and not switched and event.reason in STORED_REASONS:
                    usage = event.usage or await self._estimate(model.config.name, request, len(parts))
                    if usage is not None and model.config.cache is not None:
                        answer = CachedAnswer("".join(parts), event.reason, usage, event.stop_sequence)
                        await cache.put(key, answer, ttl_seconds=model.config.cache.ttl_seconds)
                yield event

    async def complete(self, model: RegisteredModel, request: ChatRequest) -> Completion:
        """A whole answer (titles, summaries), with the same retries, timeouts and fallbacks as a stream."""
        parts: list[str] = []
        calls = ToolCallAssembler()
        spent: list[tuple[str, Usage]] = []
        current = model.config.name
        async for event in self.stream(model, request):
            if isinstance(event, TextDelta):
                parts.append(event.text)
            elif isinstance(event, ToolCallDelta):
                calls.add(event)
            elif isinstance(event, ModelSwitch):
                if event.spent is not None:
                    spent.append((event.from_model, event.spent))
                current = event.to_model
            elif isinstance(event, Finish):
                if event.usage is not None:
                    spent.append((current, event.usage))
                return Completion(
                    text="".join(parts),
                    finish_reason=event.reason,
                    usage=event.usage,
                    spent=tuple(spent),
                    tool_calls=calls.calls(),
                )
        raise ProviderError("the model's stream ended without a finish", retryable=True)

    async def _estimate(self, name: str, request: ChatRequest, generated: int) -> Usage | None:
        """What an abandoned model spent: nothing when it was refused before its first token (never billed),
        else its prompt and the tokens it generated (it broke before reporting its own count)."""
        registered = self.registry.get(name)
        if registered is None or generated == 0:
            return None
        try:
            prompt = await registered.model.count_tokens(request.messages)
        except ProviderError:
            return None
        return unreported_usage(prompt_tokens=prompt, generated_tokens=generated)


def _count_call(model: str, breaker: CircuitBreaker, *, ok: bool) -> None:
    """One upstream call in the metrics, and its model's circuit as it stands after it."""
    metrics.PROVIDER_REQUESTS.labels(model=model, outcome="ok" if ok else "error").inc()
    metrics.PROVIDER_CIRCUIT_OPEN.labels(model=model).set(1 if breaker.is_open else 0)


def _continuation(request: ChatRequest, partial: str) -> ChatRequest:
    messages = [
        *request.messages,
        ChatMessage("assistant", partial),
        ChatMessage("user", _CONTINUE_PROMPT),
    ]
    return replace(request, messages=messages)


class _IdleWatch:
    """Fails a stream whose model stays silent for `timeout` seconds while its reader waits for it, with no task
    of its own and no timer per event: one timer per stream, moved on only when it fires (at most once per
    `timeout`), and a timestamp per read. It cancels the reading task; `_watched` turns that cancellation (and
    only that one) into a retryable `ProviderError`, so the timeout never fires inside the caller's own code."""

    __slots__ = ("_handle", "_loop", "_task", "expired", "since", "timeout", "waiting")

    def __init__(self, timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self.timeout = timeout
        self.since = self._loop.time()
        self.waiting = False
        self.expired = False
        self._handle: asyncio.TimerHandle | None = self._loop.call_at(self.since + timeout, self._check)

    def _check(self) -> None:
        now = self._loop.time()
        due = self.since + self.timeout
        if self.waiting and now >= due and self._task is not None:
            self.expired = True
            self._handle = None
            self._task.cancel()
            return
        self._handle = self._loop.call_at(due if self.waiting and due > now else now + self.timeout, self._check)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


async def _watched(registered: RegisteredModel, request: ChatRequest, call: Span) -> AsyncGenerator[ChatEvent, None]:
    """The provider's stream, failing as a retryable ProviderError when the model goes silent for longer than its
    `timeout_seconds` (only the time spent waiting for the model counts) or ends without finishing. Closing
    this generator closes the provider's, which closes the upstream call at once."""
    name = registered.config.name
    timeout = registered.config.timeout_seconds
    watch = _IdleWatch(timeout)
    loop = asyncio.get_running_loop()
    events = registered.model.stream(request)
    read = events.__anext__
    first = True
    try:
        while True:
            watch.since = loop.time()
            watch.waiting = True
            try:
                if first:
                    # The request goes out on the first read: with the call's span current, the HTTP client's
                    # span is its child.
                    first = False
                    with tracing.within(call):
                        event = await read()
                else:
                    event = await read()
            except StopAsyncIteration:
                raise ProviderError(f"model {name} ended its stream without finishing", retryable=True) from None
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if watch.expired and task is not None and task.uncancel() == 0:
                    raise ProviderError(f"model {name} sent nothing for {timeout:g}s", retryable=True) from None
                raise
            except ProviderError:
                raise
            except Exception as exc:  # an adapter bug must fail this call, not the caller
                raise ProviderError(f"model {name} failed: {type(exc).__name__}", retryable=True) from exc
            finally:
                watch.waiting = False
            yield event
            if type(event) is Finish:
                return
    finally:
        watch.close()
        # The provider's generator is finished already when it raised; otherwise this closes its upstream
        # response now rather than whenever it is garbage-collected. A failure while closing must not hide
        # the exception (or the cancellation) that got us here.
        with contextlib.suppress(Exception):
            await events.aclose()
