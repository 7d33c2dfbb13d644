"""OpenAICompatibleModel against a fake server speaking OpenAI's (and Azure's) streaming wire format."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr

from parley.llm.base import (
    ChatMessage,
    ChatRequest,
    Finish,
    FinishReason,
    GenerationParams,
    ProviderError,
    TextDelta,
    Usage,
)
from parley.llm.config import ModelConfig
from parley.llm.providers.openai_compat import OpenAICompatibleModel
from parley.llm.tokenizers import count_chat_tokens
from tests.llm.fake_upstream import (
    FakeUpstream,
    ReceivedRequest,
    Response,
    collect,
    collect_until_failure,
    sse,
    stop_after_two_deltas,
)

DATA_DIR = Path("unused")
API_KEY = "sk-test-secret-0123456789"
MESSAGES = (
    ChatMessage("system", "You are terse."),
    ChatMessage("user", "Say hello."),
    ChatMessage("assistant", "Hello?"),
    ChatMessage("user", "Louder."),
)


def chunk(
    *,
    content: str | None = None,
    role: str | None = None,
    finish_reason: str | None = None,
    usage: tuple[int, int] | None = None,
    choices: bool = True,
) -> bytes:
    """One `chat.completion.chunk` event, shaped as api.openai.com sends it."""
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    payload: dict[str, Any] = {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-test-2024",
        "system_fingerprint": "fp_test",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}] if choices else [],
        "usage": None,
    }
    if usage is not None:
        prompt, completion = usage
        payload["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
    return sse(json.dumps(payload))


def answer(*parts: str, finish_reason: str = "stop", usage: tuple[int, int] | None = (21, 3)) -> list[bytes]:
    events = [chunk(role="assistant", content="")]
    events += [chunk(content=part) for part in parts]
    events.append(chunk(finish_reason=finish_reason))
    if usage is not None:
        events.append(chunk(usage=usage, choices=False))
    events.append(sse("[DONE]"))
    return events


def streaming(events: list[bytes], *, then: str = "finish") -> Any:
    async def handler(request: ReceivedRequest, response: Response) -> None:
        await response.start()
        for event in events:
            await response.send(event)
        if then == "drop":
            response.drop()

    return handler


def model_config(upstream: FakeUpstream, **overrides: Any) -> ModelConfig:
    values: dict[str, Any] = {
        "name": "gpt",
        "provider": "openai",
        "model": "gpt-test",
        "base_url": f"{upstream.url}/v1",
        "api_key": SecretStr(API_KEY),
        "timeout_seconds": 5,
        **overrides,
    }
    return ModelConfig(**values)


@pytest_asyncio.fixture
async def model(upstream: FakeUpstream) -> AsyncIterator[OpenAICompatibleModel]:
    provider = OpenAICompatibleModel(model_config(upstream), data_dir=DATA_DIR)
    yield provider
    await provider.aclose()


class TestStreaming:
    async def test_request_and_events_follow_the_wire_format(
        self, upstream: FakeUpstream, model: OpenAICompatibleModel
    ) -> None:
        upstream.handler = streaming(answer("Hel", "lo", "!"))
        params = GenerationParams(temperature=0.2, top_p=0.9, max_tokens=77, stop=("END",))

        events = await collect(model, ChatRequest(MESSAGES, params))

        assert events == [TextDelta("Hel"), TextDelta("lo"), TextDelta("!"), Finish("stop", Usage(21, 3))]
        [received] = upstream.requests
        assert (received.method, received.path) == ("POST", "/v1/chat/completions")
        assert received.headers["authorization"] == f"Bearer {API_KEY}"
        body = received.json()
        assert body["model"] == "gpt-test"
        assert body["messages"] == [{"role": m.role, "content": m.content} for m in MESSAGES]
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
        assert (body["max_tokens"], body["temperature"], body["top_p"], body["stop"]) == (77, 0.2, 0.9, ["END"])

    async def test_local_server_without_key_or_usage(self, upstream: FakeUpstream) -> None:
        # Ollama-style: no API key configured, no usage chunk, the alias doubling as the model id.
        config = model_config(upstream, api_key=None, model=None, name="llama3", max_output_tokens=333)
        provider = OpenAICompatibleModel(config, data_dir=DATA_DIR)
        upstream.handler = streaming(answer("Hi", usage=None))
        try:
            events = await collect(provider, ChatRequest([ChatMessage("user", "hi")]))
        finally:
            await provider.aclose()

        assert events == [TextDelta("Hi"), Finish("stop", None)]
        [received] = upstream.requests
        assert received.headers["authorization"] == "Bearer not-needed"
        body = received.json()
        assert (body["model"], body["max_tokens"]) == ("llama3", 333)
        assert not {"temperature", "top_p", "stop"} & body.keys()

    @pytest.mark.parametrize(
        ("wire", "expected"),
        [("length", "length"), ("content_filter", "content_filter"), ("tool_calls", "tool_calls")],
    )
    async def test_finish_reasons(
        self, upstream: FakeUpstream, model: OpenAICompatibleModel, wire: str, expected: FinishReason
    ) -> None:
        upstream.handler = streaming(answer("x", finish_reason=wire))
        events = await collect(model, ChatRequest(MESSAGES))
        assert events[-1] == Finish(expected, Usage(21, 3))

    async def test_the_stop_sequence_met_is_passed_on_only_where_the_server_names_it(
        self, upstream: FakeUpstream, model: OpenAICompatibleModel
    ) -> None:
        request = ChatRequest(MESSAGES, GenerationParams(stop=("END", "FIN")))
        # vLLM names the sequence in the choice's `stop_reason`.
        named = json.loads(chunk(finish_reason="stop").decode().removeprefix("data: "))
        named["choices"][0]["stop_reason"] = "FIN"
        upstream.handler = streaming([chunk(content="x"), sse(json.dumps(named)), sse("[DONE]")])
        assert (await collect(model, request))[-1] == Finish("stop", None, "FIN")
        # OpenAI says only `stop`, which may as well be the model's own end.
        upstream.handler = streaming(answer("x"))
        assert (await collect(model, request))[-1] == Finish("stop", Usage(21, 3), None)

    async def test_azure_deployment_path_and_key_header(self, upstream: FakeUpstream) -> None:
        config = model_config(upstream, base_url=upstream.url, model="chat-deployment", api_version="2024-10-21")
        provider = OpenAICompatibleModel(config, data_dir=DATA_DIR)
        upstream.handler = streaming(answer("ok"))
        try:
            events = await collect(provider, ChatRequest(MESSAGES))
        finally:
            await provider.aclose()

        assert events == [TextDelta("ok"), Finish("stop", Usage(21, 3))]
        [received] = upstream.requests
        assert received.path == "/openai/deployments/chat-deployment/chat/completions"
        assert received.query == {"api-version": ["2024-10-21"]}
        assert received.headers["api-key"] == API_KEY


class TestErrors:
    @pytest.mark.parametrize(
        ("status", "retryable"), [(429, True), (500, True), (503, True), (400, False), (401, False)]
    )
    async def test_http_status(
        self, upstream: FakeUpstream, model: OpenAICompatibleModel, status: int, retryable: bool
    ) -> None:
        async def handler(request: ReceivedRequest, response: Response) -> None:
            # Some proxies echo the key they were given: it must not reach Parley's errors or logs.
            error = {"message": f"refused key {API_KEY}", "type": "some_error", "param": None, "code": None}
            await response.respond(status, {"error": error})

        upstream.handler = handler
        with pytest.raises(ProviderError) as caught:
            await collect(model, ChatRequest(MESSAGES))

        assert (caught.value.status, caught.value.retryable) == (status, retryable)
        assert API_KEY not in str(caught.value)
        assert "refused key ***" in str(caught.value)
        assert len(upstream.requests) == 1  # the SDK's own retries are off

    async def test_connection_dropped_mid_stream(self, upstream: FakeUpstream, model: OpenAICompatibleModel) -> None:
        upstream.handler = streaming(answer("one", "two", "three")[:3], then="drop")
        events, error = await collect_until_failure(model, ChatRequest(MESSAGES))

        assert error.retryable
        assert events == [TextDelta("one"), TextDelta("two")]

    async def test_stream_without_finish_reason(self, upstream: FakeUpstream, model: OpenAICompatibleModel) -> None:
        upstream.handler = streaming([chunk(content="cut"), sse("[DONE]")])
        with pytest.raises(ProviderError, match="without a finish") as caught:
            await collect(model, ChatRequest(MESSAGES))
        assert caught.value.retryable

    async def test_error_object_mid_stream(self, upstream: FakeUpstream, model: OpenAICompatibleModel) -> None:
        error = {"error": {"message": "worker crashed", "type": "server_error", "param": None, "code": None}}
        upstream.handler = streaming([chunk(content="a"), sse(json.dumps(error))])
        with pytest.raises(ProviderError, match="worker crashed") as caught:
            await collect(model, ChatRequest(MESSAGES))
        assert caught.value.retryable

    async def test_chunk_of_the_wrong_shape(self, upstream: FakeUpstream, model: OpenAICompatibleModel) -> None:
        upstream.handler = streaming([chunk(content="a"), sse(json.dumps({"choices": "not a list"}))])
        with pytest.raises(ProviderError, match="malformed") as caught:
            await collect(model, ChatRequest(MESSAGES))
        assert caught.value.retryable

    async def test_nothing_listening(self, upstream: FakeUpstream) -> None:
        await upstream.stop()
        provider = OpenAICompatibleModel(model_config(upstream), data_dir=DATA_DIR)
        try:
            with pytest.raises(ProviderError) as caught:
                await collect(provider, ChatRequest(MESSAGES))
        finally:
            await provider.aclose()
        assert caught.value.retryable
        assert caught.value.status is None

    async def test_upstream_going_silent_times_out(self, upstream: FakeUpstream) -> None:
        async def handler(request: ReceivedRequest, response: Response) -> None:
            await response.start()
            for item in (chunk(content="slow"),):
                await response.send(item)
            await asyncio.wait_for(response.client_gone.wait(), 5)

        upstream.handler = handler
        provider = OpenAICompatibleModel(model_config(upstream, timeout_seconds=0.3), data_dir=DATA_DIR)
        try:
            with pytest.raises(ProviderError, match="timed out") as caught:
                await collect(provider, ChatRequest(MESSAGES))
        finally:
            await provider.aclose()
        assert caught.value.retryable
        await asyncio.wait_for(upstream.client_gone.wait(), 5)


class TestCancellation:
    @pytest.mark.parametrize("how", ["cancel", "aclose"])
    async def test_consumer_leaving_closes_the_upstream_connection(
        self, upstream: FakeUpstream, model: OpenAICompatibleModel, how: str
    ) -> None:
        async def handler(request: ReceivedRequest, response: Response) -> None:
            await response.start()
            for part in ("one", "two"):
                await response.send(chunk(content=part))
            # A real model would go on generating; this one waits to see the client hang up.
            await asyncio.wait_for(response.client_gone.wait(), 5)

        upstream.handler = handler
        events = await stop_after_two_deltas(model, ChatRequest(MESSAGES), how)

        assert events == [TextDelta("one"), TextDelta("two")]
        await asyncio.wait_for(upstream.client_gone.wait(), 5)


class TestCountTokens:
    async def test_counts_locally_without_calling_the_server(
        self, upstream: FakeUpstream, model: OpenAICompatibleModel
    ) -> None:
        # 3 reply-priming tokens + per message (3 markup + 1 role + content): "You are terse." is 4 tokens,
        # "Say hello." 3, "Hello?" 2, "Louder." 3.
        assert await model.count_tokens(MESSAGES) == 3 + 4 * 4 + 4 + 3 + 2 + 3
        assert await model.count_tokens(MESSAGES) == count_chat_tokens(MESSAGES)
        assert upstream.requests == []


class TestConnections:
    async def test_streams_beyond_max_connections_wait_for_one_and_the_default_is_far_above_the_sdks(
        self, upstream: FakeUpstream
    ) -> None:
        # Each streaming answer holds a connection: a limit of 2 lets two answers run and holds the third
        # until one ends. (The SDK's own client would hold every answer past 1,000.)
        assert ModelConfig(name="m", provider="openai").max_connections >= 10_000
        release = asyncio.Event()

        async def held(request: ReceivedRequest, response: Response) -> None:
            await response.start()
            await response.send(chunk(role="assistant", content=""))
            await release.wait()
            for event in answer("done"):
                await response.send(event)

        upstream.handler = held
        provider = OpenAICompatibleModel(model_config(upstream, max_connections=2), data_dir=DATA_DIR)
        try:
            answers = [
                asyncio.create_task(collect(provider, ChatRequest([ChatMessage("user", f"q{n}")]))) for n in range(3)
            ]
            for _ in range(100):
                if len(upstream.requests) >= 2:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            assert len(upstream.requests) == 2  # the third waits for a connection
            release.set()
            results = await asyncio.wait_for(asyncio.gather(*answers), timeout=10)
        finally:
            await provider.aclose()
        assert len(upstream.requests) == 3
        assert all(events[-1] == Finish("stop", Usage(prompt_tokens=21, completion_tokens=3)) for events in results)
