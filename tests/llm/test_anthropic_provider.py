"""AnthropicModel against a fake server speaking the Messages API's streaming wire format."""

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
from parley.llm.providers.anthropic import AnthropicModel
from parley.llm.providers.turns import Turn, split_conversation
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
API_KEY = "sk-ant-test-secret-0123456789"
MESSAGES = (
    ChatMessage("system", "You are terse."),
    ChatMessage("user", "Say hello."),
    ChatMessage("assistant", "Hello?"),
    ChatMessage("user", "Louder."),
)


def event(name: str, payload: dict[str, Any]) -> bytes:
    return sse(json.dumps({"type": name, **payload}), event=name)


def message_start(input_tokens: int = 25) -> bytes:
    message: dict[str, Any] = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-test",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1},
    }
    return event("message_start", {"message": message})


def text_delta(text: str) -> bytes:
    return event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}})


def answer(
    *parts: str, stop_reason: str = "end_turn", output_tokens: int = 7, stop_sequence: str | None = None
) -> list[bytes]:
    """A whole answer as api.anthropic.com streams it, pings included."""
    return [
        message_start(),
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        event("ping", {}),
        *(text_delta(part) for part in parts),
        event("content_block_stop", {"index": 0}),
        event(
            "message_delta",
            {
                "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                "usage": {"output_tokens": output_tokens},
            },
        ),
        event("message_stop", {}),
    ]


def error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_01"}


def streaming(events: list[bytes], *, then: str = "finish") -> Any:
    async def handler(request: ReceivedRequest, response: Response) -> None:
        await response.start(headers={"request-id": "req_01"})
        for item in events:
            await response.send(item)
        if then == "drop":
            response.drop()

    return handler


def model_config(upstream: FakeUpstream, **overrides: Any) -> ModelConfig:
    values: dict[str, Any] = {
        "name": "claude",
        "provider": "anthropic",
        "model": "claude-test",
        "base_url": upstream.url,
        "api_key": SecretStr(API_KEY),
        "timeout_seconds": 5,
        "max_output_tokens": 512,
        **overrides,
    }
    return ModelConfig(**values)


@pytest_asyncio.fixture
async def model(upstream: FakeUpstream) -> AsyncIterator[AnthropicModel]:
    provider = AnthropicModel(model_config(upstream), data_dir=DATA_DIR)
    yield provider
    await provider.aclose()


class TestStreaming:
    async def test_request_and_events_follow_the_wire_format(
        self, upstream: FakeUpstream, model: AnthropicModel
    ) -> None:
        upstream.handler = streaming(answer("Hel", "lo", "!"))
        params = GenerationParams(temperature=0.2, top_p=0.9, max_tokens=77, stop=("END",))

        events = await collect(model, ChatRequest(MESSAGES, params))

        assert events == [TextDelta("Hel"), TextDelta("lo"), TextDelta("!"), Finish("stop", Usage(25, 7))]
        [received] = upstream.requests
        assert (received.method, received.path) == ("POST", "/v1/messages")
        # Older SDKs send the key as x-api-key, newer ones as a bearer token.
        sent_key = received.headers.get("x-api-key") or received.headers["authorization"].removeprefix("Bearer ")
        assert sent_key == API_KEY
        assert "anthropic-version" in received.headers
        body = received.json()
        assert body["model"] == "claude-test"
        assert body["system"] == "You are terse."
        assert body["messages"] == [
            {"role": "user", "content": "Say hello."},
            {"role": "assistant", "content": "Hello?"},
            {"role": "user", "content": "Louder."},
        ]
        assert (body["max_tokens"], body["stop_sequences"], body["stream"]) == (77, ["END"], True)
        # The Messages API takes no sampling parameters.
        assert not {"temperature", "top_p"} & body.keys()

    async def test_history_is_reshaped_into_alternating_turns(
        self, upstream: FakeUpstream, model: AnthropicModel
    ) -> None:
        upstream.handler = streaming(answer("ok"))
        history = [
            ChatMessage("assistant", "Welcome! Ask me anything."),
            ChatMessage("system", "Be brief."),
            ChatMessage("user", "First question"),
            ChatMessage("user", "and a second one"),
            ChatMessage("user", "   "),
            ChatMessage("system", "Answer in English."),
            ChatMessage("assistant", "Answer"),
            ChatMessage("assistant", "continued"),
            ChatMessage("user", "Thanks"),
        ]

        await collect(model, ChatRequest(history))

        body = upstream.requests[0].json()
        assert body["system"] == "Be brief.\n\nAnswer in English."
        assert body["messages"] == [
            {"role": "user", "content": "First question\n\nand a second one"},
            {"role": "assistant", "content": "Answer\n\ncontinued"},
            {"role": "user", "content": "Thanks"},
        ]
        assert body["max_tokens"] == 512  # config.max_output_tokens when the request sets none
        assert "stop_sequences" not in body

    async def test_final_usage_in_message_delta_wins(self, upstream: FakeUpstream, model: AnthropicModel) -> None:
        # The API may repeat cumulative input counts in message_delta, cache reads included.
        events = answer("x")
        events[-2] = event(
            "message_delta",
            {
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"input_tokens": 5, "cache_read_input_tokens": 20, "output_tokens": 9},
            },
        )
        upstream.handler = streaming(events)
        assert (await collect(model, ChatRequest(MESSAGES)))[-1] == Finish("stop", Usage(25, 9))

    @pytest.mark.parametrize(
        ("wire", "expected"),
        [("stop_sequence", "stop"), ("max_tokens", "length"), ("refusal", "content_filter")],
    )
    async def test_stop_reasons(
        self, upstream: FakeUpstream, model: AnthropicModel, wire: str, expected: FinishReason
    ) -> None:
        upstream.handler = streaming(answer("x", stop_reason=wire))
        events = await collect(model, ChatRequest(MESSAGES))
        assert events[-1] == Finish(expected, Usage(25, 7))

    async def test_the_stop_sequence_met_is_passed_on(self, upstream: FakeUpstream, model: AnthropicModel) -> None:
        upstream.handler = streaming(answer("x", stop_reason="stop_sequence", stop_sequence="END"))
        events = await collect(model, ChatRequest(MESSAGES, GenerationParams(stop=("END", "FIN"))))
        assert events[-1] == Finish("stop", Usage(25, 7), "END")


class TestConversationShape:
    def test_final_assistant_turn_is_a_prefill_without_trailing_space(self) -> None:
        conversation = split_conversation([ChatMessage("user", "Write JSON"), ChatMessage("assistant", "{\n")])
        assert conversation.turns == (Turn("user", "Write JSON"), Turn("assistant", "{\n"))
        assert conversation.system is None

    def test_no_user_message_is_a_permanent_error(self) -> None:
        with pytest.raises(ProviderError) as caught:
            split_conversation([ChatMessage("system", "Be brief."), ChatMessage("assistant", "Hi")])
        assert not caught.value.retryable

    async def test_prefill_reaches_the_api_stripped(self, upstream: FakeUpstream, model: AnthropicModel) -> None:
        upstream.handler = streaming(answer('"a": 1}'))
        await collect(model, ChatRequest([ChatMessage("user", "Write JSON"), ChatMessage("assistant", "{ \n")]))
        assert upstream.requests[0].json()["messages"][-1] == {"role": "assistant", "content": "{"}


class TestErrors:
    @pytest.mark.parametrize(
        ("status", "error_type", "retryable"),
        [
            (429, "rate_limit_error", True),
            (500, "api_error", True),
            (503, "api_error", True),
            (529, "overloaded_error", True),
            (400, "invalid_request_error", False),
            (401, "authentication_error", False),
        ],
    )
    async def test_http_status(
        self, upstream: FakeUpstream, model: AnthropicModel, status: int, error_type: str, retryable: bool
    ) -> None:
        async def handler(request: ReceivedRequest, response: Response) -> None:
            await response.respond(status, error_body(error_type, f"refused key {API_KEY}"))

        upstream.handler = handler
        with pytest.raises(ProviderError) as caught:
            await collect(model, ChatRequest(MESSAGES))

        assert (caught.value.status, caught.value.retryable) == (status, retryable)
        assert API_KEY not in str(caught.value)
        assert "refused key ***" in str(caught.value)
        assert len(upstream.requests) == 1  # the SDK's own retries are off

    async def test_error_event_mid_stream(self, upstream: FakeUpstream, model: AnthropicModel) -> None:
        upstream.handler = streaming(
            [
                message_start(),
                text_delta("a"),
                sse(json.dumps(error_body("overloaded_error", "Overloaded")), event="error"),
            ]
        )
        with pytest.raises(ProviderError, match="Overloaded") as caught:
            await collect(model, ChatRequest(MESSAGES))
        assert (caught.value.status, caught.value.retryable) == (529, True)

    async def test_connection_dropped_mid_stream(self, upstream: FakeUpstream, model: AnthropicModel) -> None:
        upstream.handler = streaming(answer("one", "two", "three")[:5], then="drop")
        events, error = await collect_until_failure(model, ChatRequest(MESSAGES))

        assert error.retryable
        assert events == [TextDelta("one"), TextDelta("two")]

    async def test_stream_without_message_stop(self, upstream: FakeUpstream, model: AnthropicModel) -> None:
        upstream.handler = streaming(answer("cut")[:-2])
        with pytest.raises(ProviderError, match="message_stop") as caught:
            await collect(model, ChatRequest(MESSAGES))
        assert caught.value.retryable

    async def test_upstream_going_silent_times_out(self, upstream: FakeUpstream) -> None:
        async def handler(request: ReceivedRequest, response: Response) -> None:
            await response.start()
            for item in (
                message_start(),
                text_delta("slow"),
            ):
                await response.send(item)
            await asyncio.wait_for(response.client_gone.wait(), 5)

        upstream.handler = handler
        provider = AnthropicModel(model_config(upstream, timeout_seconds=0.3), data_dir=DATA_DIR)
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
        self, upstream: FakeUpstream, model: AnthropicModel, how: str
    ) -> None:
        async def handler(request: ReceivedRequest, response: Response) -> None:
            await response.start()
            for item in answer("one", "two")[:5]:
                await response.send(item)
            # A real model would go on generating; this one waits to see the client hang up.
            await asyncio.wait_for(response.client_gone.wait(), 5)

        upstream.handler = handler
        events = await stop_after_two_deltas(model, ChatRequest(MESSAGES), how)

        assert events == [TextDelta("one"), TextDelta("two")]
        await asyncio.wait_for(upstream.client_gone.wait(), 5)


class TestCountTokens:
    async def test_uses_the_counting_endpoint(self, upstream: FakeUpstream, model: AnthropicModel) -> None:
        async def handler(request: ReceivedRequest, response: Response) -> None:
            await response.respond(200, {"input_tokens": 42})

        upstream.handler = handler
        assert await model.count_tokens(MESSAGES) == 42
        [received] = upstream.requests
        assert received.path == "/v1/messages/count_tokens"
        body = received.json()
        assert (body["model"], body["system"], len(body["messages"])) == ("claude-test", "You are terse.", 3)

    async def test_falls_back_to_the_local_count_and_stops_asking_a_gateway_without_it(
        self, upstream: FakeUpstream, model: AnthropicModel
    ) -> None:
        async def handler(request: ReceivedRequest, response: Response) -> None:
            await response.respond(404, error_body("not_found_error", "Not Found"))

        upstream.handler = handler
        assert await model.count_tokens(MESSAGES) == count_chat_tokens(MESSAGES)
        assert await model.count_tokens(MESSAGES) == count_chat_tokens(MESSAGES)
        assert len(upstream.requests) == 1

    async def test_falls_back_while_the_endpoint_is_overloaded(
        self, upstream: FakeUpstream, model: AnthropicModel
    ) -> None:
        async def handler(request: ReceivedRequest, response: Response) -> None:
            await response.respond(529, error_body("overloaded_error", "Overloaded"))

        upstream.handler = handler
        assert await model.count_tokens(MESSAGES) == count_chat_tokens(MESSAGES)
        assert await model.count_tokens(MESSAGES) == count_chat_tokens(MESSAGES)
        assert len(upstream.requests) == 2  # a passing failure: asked again next time
