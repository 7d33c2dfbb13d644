"""BedrockModel against a fake server speaking ConverseStream's wire format: restJson1 requests answered with
`application/vnd.amazon.eventstream` binary frames."""

from __future__ import annotations

import asyncio
import json
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

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
from parley.llm.providers.bedrock import BedrockModel
from parley.llm.tokenizers import count_chat_tokens
from tests.llm.fake_upstream import (
    FakeUpstream,
    ReceivedRequest,
    Response,
    collect,
    collect_until_failure,
    stop_after_two_deltas,
)

DATA_DIR = Path("unused")
MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
ACCESS_KEY = "AKIATESTACCESSKEY"
SECRET_KEY = "test-secret-access-key-0123456789"
MESSAGES = (
    ChatMessage("system", "You are terse."),
    ChatMessage("user", "Say hello."),
    ChatMessage("assistant", "Hello?"),
    ChatMessage("user", "Louder."),
)
EVENT_STREAM = {"content-type": "application/vnd.amazon.eventstream", "x-amzn-requestid": "req-01"}


def _header(name: str, value: str) -> bytes:
    encoded_name, encoded_value = name.encode(), value.encode()
    # Header value type 7: a string with a 2-byte length.
    return bytes([len(encoded_name)]) + encoded_name + b"\x07" + struct.pack(">H", len(encoded_value)) + encoded_value


def frame(headers: dict[str, str], payload: dict[str, Any]) -> bytes:
    """One event-stream message: prelude (total length, headers length, CRC32 of both), headers, payload,
    and a CRC32 of everything before it."""
    header_bytes = b"".join(_header(name, value) for name, value in headers.items())
    body = json.dumps(payload).encode()
    prelude = struct.pack(">II", 12 + len(header_bytes) + len(body) + 4, len(header_bytes))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + header_bytes + body
    return message + struct.pack(">I", zlib.crc32(message))


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, payload)


def exception(exception_type: str, message: str) -> bytes:
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return frame(headers, {"message": message})


def text_delta(text: str) -> bytes:
    return event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}})


def answer(*parts: str, stop_reason: str = "end_turn", usage: tuple[int, int] = (25, 7)) -> list[bytes]:
    """A whole answer as Bedrock streams it."""
    return [
        event("messageStart", {"role": "assistant"}),
        *(text_delta(part) for part in parts),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("messageStop", {"stopReason": stop_reason}),
        event(
            "metadata",
            {
                "usage": {"inputTokens": usage[0], "outputTokens": usage[1], "totalTokens": sum(usage)},
                "metrics": {"latencyMs": 120},
            },
        ),
    ]


def streaming(events: list[bytes], *, then: str = "finish") -> Any:
    async def handler(request: ReceivedRequest, response: Response) -> None:
        await response.start(headers=EVENT_STREAM)
        for item in events:
            await response.send(item)
        if then == "drop":
            response.drop()

    return handler


def model_config(upstream: FakeUpstream, **overrides: Any) -> ModelConfig:
    values: dict[str, Any] = {
        "name": "haiku",
        "provider": "bedrock",
        "model": MODEL_ID,
        "region": "us-east-1",
        "endpoint_url": upstream.url,
        "timeout_seconds": 5,
        "max_output_tokens": 512,
        **overrides,
    }
    return ModelConfig(**values)


@pytest.fixture(autouse=True)
def _aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Static keys from the environment, and nothing else in the chain: no profile files, no metadata
    service."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest_asyncio.fixture
async def model(upstream: FakeUpstream, _aws_credentials: None) -> AsyncIterator[BedrockModel]:
    provider = BedrockModel(model_config(upstream), data_dir=DATA_DIR)
    yield provider
    await provider.aclose()


class TestStreaming:
    async def test_request_and_events_follow_the_wire_format(self, upstream: FakeUpstream, model: BedrockModel) -> None:
        upstream.handler = streaming(answer("Hel", "lo", "!"))
        params = GenerationParams(temperature=0.2, top_p=0.9, max_tokens=77, stop=("END",))

        events = await collect(model, ChatRequest(MESSAGES, params))

        assert events == [TextDelta("Hel"), TextDelta("lo"), TextDelta("!"), Finish("stop", Usage(25, 7))]
        # One call of the model (CI once saw a stray GET on the fake's port from elsewhere in the run: not this
        # provider's, which only POSTs; shown if it recurs).
        posted = [request for request in upstream.requests if request.method == "POST"]
        assert len(posted) == 1, [(r.method, r.target, r.headers.get("user-agent")) for r in upstream.requests]
        [received] = posted
        assert (received.method, received.path) == ("POST", f"/model/{MODEL_ID}/converse-stream")
        assert received.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
        assert "/us-east-1/bedrock/aws4_request" in received.headers["authorization"]
        body = received.json()
        assert body["system"] == [{"text": "You are terse."}]
        assert body["messages"] == [
            {"role": "user", "content": [{"text": "Say hello."}]},
            {"role": "assistant", "content": [{"text": "Hello?"}]},
            {"role": "user", "content": [{"text": "Louder."}]},
        ]
        assert body["inferenceConfig"] == {"maxTokens": 77, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]}

    async def test_history_is_reshaped_into_alternating_turns(
        self, upstream: FakeUpstream, model: BedrockModel
    ) -> None:
        upstream.handler = streaming(answer("ok"))
        history = [
            ChatMessage("assistant", "Welcome!"),
            ChatMessage("user", "First"),
            ChatMessage("user", "Second"),
            ChatMessage("system", "Be brief."),
            ChatMessage("assistant", "Answer"),
            ChatMessage("user", "Thanks"),
        ]

        await collect(model, ChatRequest(history))

        body = upstream.requests[0].json()
        assert body["system"] == [{"text": "Be brief."}]
        assert [(m["role"], m["content"][0]["text"]) for m in body["messages"]] == [
            ("user", "First\n\nSecond"),
            ("assistant", "Answer"),
            ("user", "Thanks"),
        ]
        assert body["inferenceConfig"] == {"maxTokens": 512}  # config.max_output_tokens, nothing else set

    async def test_start_prepares_the_client_without_calling_aws(
        self, upstream: FakeUpstream, model: BedrockModel
    ) -> None:
        await model.start()
        assert upstream.requests == []
        upstream.handler = streaming(answer("ok"))
        assert await collect(model, ChatRequest(MESSAGES)) == [TextDelta("ok"), Finish("stop", Usage(25, 7))]

    @pytest.mark.parametrize(
        ("wire", "expected"),
        [("stop_sequence", "stop"), ("max_tokens", "length"), ("guardrail_intervened", "content_filter")],
    )
    async def test_stop_reasons(
        self, upstream: FakeUpstream, model: BedrockModel, wire: str, expected: FinishReason
    ) -> None:
        upstream.handler = streaming(answer("x", stop_reason=wire))
        events = await collect(model, ChatRequest(MESSAGES))
        assert events[-1] == Finish(expected, Usage(25, 7))


class TestErrors:
    @pytest.mark.parametrize(
        ("status", "error_type", "retryable"),
        [
            (429, "ThrottlingException", True),
            (500, "InternalServerException", True),
            (503, "ServiceUnavailableException", True),
            (400, "ValidationException", False),
            (403, "AccessDeniedException", False),
        ],
    )
    async def test_http_status(
        self, upstream: FakeUpstream, model: BedrockModel, status: int, error_type: str, retryable: bool
    ) -> None:
        async def handler(request: ReceivedRequest, response: Response) -> None:
            headers = {"x-amzn-errortype": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
            await response.respond(status, {"message": f"{error_type} for this test"}, headers=headers)

        upstream.handler = handler
        with pytest.raises(ProviderError, match=error_type) as caught:
            await collect(model, ChatRequest(MESSAGES))

        assert (caught.value.status, caught.value.retryable) == (status, retryable)
        assert SECRET_KEY not in str(caught.value)
        assert len(upstream.requests) == 1  # botocore's own retries are off

    @pytest.mark.parametrize(
        ("exception_type", "retryable"), [("throttlingException", True), ("validationException", False)]
    )
    async def test_exception_event_mid_stream(
        self, upstream: FakeUpstream, model: BedrockModel, exception_type: str, retryable: bool
    ) -> None:
        upstream.handler = streaming([*answer("a")[:2], exception(exception_type, "Too many tokens, slow down")])
        events, error = await collect_until_failure(model, ChatRequest(MESSAGES))
        assert "slow down" in str(error)
        assert error.retryable is retryable
        assert events == [TextDelta("a")]

    async def test_connection_dropped_mid_stream(self, upstream: FakeUpstream, model: BedrockModel) -> None:
        upstream.handler = streaming(answer("one", "two", "three")[:3], then="drop")
        events, error = await collect_until_failure(model, ChatRequest(MESSAGES))

        assert error.retryable
        assert events == [TextDelta("one"), TextDelta("two")]

    async def test_stream_without_message_stop(self, upstream: FakeUpstream, model: BedrockModel) -> None:
        upstream.handler = streaming(answer("cut")[:3])
        with pytest.raises(ProviderError, match="messageStop") as caught:
            await collect(model, ChatRequest(MESSAGES))
        assert caught.value.retryable

    async def test_no_credentials_is_a_permanent_error(
        self, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        provider = BedrockModel(model_config(upstream), data_dir=DATA_DIR)
        try:
            with pytest.raises(ProviderError, match="NoCredentialsError") as caught:
                await collect(provider, ChatRequest(MESSAGES))
        finally:
            await provider.aclose()
        assert not caught.value.retryable
        assert upstream.requests == []

    async def test_upstream_going_silent_times_out(self, upstream: FakeUpstream) -> None:
        async def handler(request: ReceivedRequest, response: Response) -> None:
            await response.start(headers=EVENT_STREAM)
            for item in (
                event("messageStart", {"role": "assistant"}),
                text_delta("slow"),
            ):
                await response.send(item)
            await asyncio.wait_for(response.client_gone.wait(), 5)

        upstream.handler = handler
        provider = BedrockModel(model_config(upstream, timeout_seconds=0.3), data_dir=DATA_DIR)
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
        self, upstream: FakeUpstream, model: BedrockModel, how: str
    ) -> None:
        async def handler(request: ReceivedRequest, response: Response) -> None:
            await response.start(headers=EVENT_STREAM)
            for item in answer("one", "two")[:3]:
                await response.send(item)
            # A real model would go on generating; this one waits to see the client hang up.
            await asyncio.wait_for(response.client_gone.wait(), 5)

        upstream.handler = handler
        events = await stop_after_two_deltas(model, ChatRequest(MESSAGES), how)

        assert events == [TextDelta("one"), TextDelta("two")]
        await asyncio.wait_for(upstream.client_gone.wait(), 5)


class TestCountTokens:
    async def test_counts_locally_without_calling_the_server(self, upstream: FakeUpstream, model: BedrockModel) -> None:
        assert await model.count_tokens(MESSAGES) == count_chat_tokens(MESSAGES)
        assert upstream.requests == []


class TestConnections:
    async def test_more_answers_stream_at_once_than_botocores_default_pool_of_ten(
        self, upstream: FakeUpstream, model: BedrockModel
    ) -> None:
        release = asyncio.Event()
        events = answer("ok")

        async def held(request: ReceivedRequest, response: Response) -> None:
            await response.start(headers=EVENT_STREAM)
            await release.wait()
            for item in events:
                await response.send(item)

        upstream.handler = held
        answers = [asyncio.create_task(collect(model, ChatRequest([ChatMessage("user", f"q{n}")]))) for n in range(12)]
        for _ in range(250):
            if len(upstream.requests) == 12:
                break
            await asyncio.sleep(0.02)
        assert len(upstream.requests) == 12  # all twelve reached the server at the same time
        release.set()
        results = await asyncio.wait_for(asyncio.gather(*answers), timeout=10)
        assert all(result[0] == TextDelta("ok") for result in results)
