"""Routing decisions: which model answers, retries, and the circuit breaker's states."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from parley.config import LLMSettings
from parley.errors import NotFound
from parley.llm.base import ChatMessage, ChatRequest, Finish, TextDelta, Tool, ToolCallDelta
from parley.llm.capabilities import ModelLacksCapability
from parley.llm.config import ModelCatalog, ModelConfig
from parley.llm.registry import ModelRegistry
from parley.llm.router import AllModelsFailed, CircuitBreaker, ModelSwitch, Router


def _router(*models: ModelConfig, default: str | None = None, **settings: object) -> Router:
    catalog = ModelCatalog(models=models, default=default)
    return Router(ModelRegistry(catalog, data_dir=Path("/nonexistent")), LLMSettings(**settings))


def _priced(name: str, price: str) -> ModelConfig:
    return ModelConfig(
        name=name, provider="scripted", price_per_1k_input=Decimal(price), price_per_1k_output=Decimal(price)
    )


class TestAuto:
    def test_short_simple_prompts_go_to_the_cheapest_model(self):
        router = _router(_priced("big", "10"), _priced("small", "0.1"), _priced("mid", "1"), default="big")
        chosen = router.resolve("auto", [ChatMessage("user", "What's the capital of France?")])
        assert chosen.config.name == "small"

    def test_long_or_code_prompts_go_to_the_default(self):
        router = _router(_priced("big", "10"), _priced("small", "0.1"), default="big", auto_short_prompt_chars=50)
        assert router.resolve("auto", [ChatMessage("user", "x" * 51)]).config.name == "big"
        assert router.resolve("auto", [ChatMessage("user", "fix ```print(1)```")]).config.name == "big"

    def test_a_model_whose_circuit_is_open_is_not_chosen(self):
        router = _router(_priced("big", "10"), _priced("small", "0.1"), default="big", breaker_failure_threshold=1)
        router.breaker("small").failure()
        assert router.resolve("auto", [ChatMessage("user", "hi")]).config.name == "big"

    def test_no_model_named_means_the_default_and_unknown_names_are_404(self):
        router = _router(_priced("a", "1"), _priced("b", "1"), default="b")
        assert router.resolve(None, []).config.name == "b"
        with pytest.raises(NotFound):
            router.resolve("zzz", [])


class TestCircuitBreaker:
    def test_opens_after_threshold_then_lets_one_trial_through_after_cooldown(self, monkeypatch):
        now = [1000.0]
        monkeypatch.setattr("parley.llm.router.time.monotonic", lambda: now[0])
        breaker = CircuitBreaker(threshold=2, cooldown=30)
        breaker.failure()
        assert breaker.allows()
        breaker.failure()
        assert not breaker.allows() and breaker.is_open
        now[0] += 31
        assert breaker.allows()  # the one trial call
        assert not breaker.allows()  # nobody else while it is in flight
        breaker.failure()  # the trial failed: open again
        assert not breaker.allows()
        now[0] += 31
        assert breaker.allows()
        breaker.success()
        assert breaker.allows() and breaker.allows()


class TestRetries:
    async def test_retries_then_falls_back_and_reports_the_switch(self, monkeypatch):
        monkeypatch.setattr("parley.llm.router.backoff_seconds", lambda attempt: 0)
        attempts = {"n": 0}
        flaky = ModelConfig(name="flaky", provider="scripted", fail="status:503", max_retries=2, fallbacks=("ok",))
        router = _router(flaky, ModelConfig(name="ok", provider="scripted"))
        original = router.registry.get("flaky").model.stream

        def counting(request):
            attempts["n"] += 1
            return original(request)

        monkeypatch.setattr(router.registry.get("flaky").model, "stream", counting)
        events = [
            e async for e in router.stream(router.registry.get("flaky"), ChatRequest([ChatMessage("user", "hi")]))
        ]
        assert attempts["n"] == 3  # the first try and two retries
        assert isinstance(events[0], ModelSwitch) and events[0].to_model == "ok"
        assert isinstance(events[1], TextDelta) and isinstance(events[-1], Finish)

    async def test_a_model_refused_before_its_first_token_spent_nothing(self, monkeypatch):
        """A 5xx before any token is never billed: the switch carries no spend, however long the prompt."""
        monkeypatch.setattr("parley.llm.router.backoff_seconds", lambda attempt: 0)
        refused = ModelConfig(name="refused", provider="scripted", fail="status:500", max_retries=1, fallbacks=("ok",))
        router = _router(refused, ModelConfig(name="ok", provider="scripted"))
        request = ChatRequest([ChatMessage("user", "a long question " * 100)])
        events = [e async for e in router.stream(router.registry.get("refused"), request)]
        switch = events[0]
        assert isinstance(switch, ModelSwitch) and switch.from_model == "refused" and switch.spent is None

    async def test_a_model_that_broke_after_tokens_spent_what_it_generated(self):
        dropping = ModelConfig(
            name="dropping", provider="scripted", reply="a b c d e f", fail="drop_after_tokens:2", fallbacks=("ok",)
        )
        router = _router(dropping, ModelConfig(name="ok", provider="scripted", reply="rest"))
        events = [
            e async for e in router.stream(router.registry.get("dropping"), ChatRequest([ChatMessage("user", "q")]))
        ]
        switch = next(e for e in events if isinstance(e, ModelSwitch))
        assert switch.spent is not None and switch.spent.completion_tokens == 2 and switch.spent.prompt_tokens > 0

    async def test_a_client_error_is_not_retried(self, monkeypatch):
        monkeypatch.setattr("parley.llm.router.backoff_seconds", lambda attempt: 0)
        bad = ModelConfig(name="bad", provider="scripted", fail="status:400", max_retries=3)
        router = _router(bad)
        with pytest.raises(AllModelsFailed) as failure:
            async for _ in router.stream(router.registry.get("bad"), ChatRequest([ChatMessage("user", "hi")])):
                pass
        assert failure.value.status == 400
        assert router.breaker("bad").failures == 1


class TestIdleTimeout:
    """A model that goes silent fails the attempt (retryable, so the chain goes on); only the time spent waiting
    for the model counts, and a cancellation from outside stays a cancellation."""

    async def test_a_silent_model_fails_over_to_the_next(self):
        silent = ModelConfig(name="silent", provider="scripted", fail="hang", timeout_seconds=0.2, fallbacks=("ok",))
        router = _router(silent, ModelConfig(name="ok", provider="scripted"))
        events = [
            e async for e in router.stream(router.registry.get("silent"), ChatRequest([ChatMessage("user", "hi")]))
        ]
        assert isinstance(events[0], ModelSwitch)
        assert events[0].from_model == "silent" and "sent nothing for 0.2s" in events[0].reason
        assert isinstance(events[-1], Finish)

    async def test_a_silent_model_alone_fails_the_call(self):
        silent = ModelConfig(name="silent", provider="scripted", fail="hang", timeout_seconds=0.2)
        router = _router(silent)
        with pytest.raises(AllModelsFailed, match="sent nothing"):
            async for _ in router.stream(router.registry.get("silent"), ChatRequest([ChatMessage("user", "hi")])):
                pass

    async def test_time_the_caller_spends_between_events_does_not_count(self):
        model = ModelConfig(name="m", provider="scripted", reply="one two three", timeout_seconds=0.1)
        router = _router(model)
        texts = []
        async for event in router.stream(router.registry.get("m"), ChatRequest([ChatMessage("user", "hi")])):
            if isinstance(event, TextDelta):
                texts.append(event.text)
                await asyncio.sleep(0.25)  # slower than the model's timeout, but it is the caller that is slow
        assert "".join(texts).split() == ["one", "two", "three"]

    async def test_cancelling_the_caller_cancels_and_closes_the_model_stream(self):
        closed = asyncio.Event()
        model = ModelConfig(name="m", provider="scripted", fail="hang", timeout_seconds=30)
        router = _router(model)
        registered = router.registry.get("m")

        async def hanging(request):
            try:
                await asyncio.Event().wait()
                yield TextDelta("never")
            finally:
                closed.set()

        registered.model.stream = hanging  # type: ignore[method-assign]

        async def consume():
            async for _ in router.stream(registered, ChatRequest([ChatMessage("user", "hi")])):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert closed.is_set()


WEATHER = Tool("get_weather", None, {"type": "object", "properties": {"city": {"type": "string"}}})


class TestCapabilities:
    """Issue 15: a request that needs tools goes to, and falls back to, models that have them only."""

    async def test_fallbacks_without_the_capability_are_skipped(self):
        router = _router(
            ModelConfig(
                name="first", provider="scripted", fail="status:500", max_retries=0, fallbacks=("plain", "tooled")
            ),
            ModelConfig(name="plain", provider="scripted", capabilities={"tools": False}),
            ModelConfig(name="tooled", provider="scripted"),
        )
        request = ChatRequest([ChatMessage("user", "weather?")], tools=(WEATHER,))
        events = [
            event async for event in router.stream(router.resolve("first", request.messages, request=request), request)
        ]
        assert [e.to_model for e in events if isinstance(e, ModelSwitch)] == ["tooled"]
        assert events[-1] == Finish("tool_calls", events[-1].usage)
        with pytest.raises(ModelLacksCapability):
            router.resolve("plain", request.messages, request=request)

    async def test_a_tool_call_cut_off_mid_stream_is_not_continued_elsewhere(self):
        router = _router(
            ModelConfig(
                name="dropping", provider="scripted", fail="drop_after_tokens:1", max_retries=0, fallbacks=("echo",)
            ),
            ModelConfig(name="echo", provider="scripted"),
        )
        request = ChatRequest([ChatMessage("user", "weather?")], tools=(WEATHER,))
        seen: list[object] = []

        async def read() -> None:
            async for event in router.stream(router.resolve("dropping", request.messages), request):
                seen.append(event)

        with pytest.raises(AllModelsFailed):
            await read()
        assert seen and all(isinstance(e, ToolCallDelta) for e in seen)
