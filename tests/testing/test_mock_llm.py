"""The mock upstream as its users see it: a subprocess on a free loopback port, spoken to with the official
`openai` SDK (and raw HTTP where the bytes matter)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from parley.llm.base import ChatMessage, ChatRequest, Finish, ProviderError, TextDelta
from parley.llm.config import ModelConfig
from parley.llm.providers.openai_compat import OpenAICompatibleModel
from tests.servers import free_port

QUESTION = "Hello there, how are you today?"


def _start(*options: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "parley.testing.mock_llm", "--port", str(port), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base_url}/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                stderr = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"the mock did not start: {stderr}")
            time.sleep(0.05)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    yield from _start("--reply", "echo", "--first-token-ms", "5")


@pytest.fixture(scope="module")
def failing_url() -> Iterator[str]:
    yield from _start("--fail", "status:500")


@pytest.fixture(scope="module")
def dropping_url() -> Iterator[str]:
    yield from _start("--reply", "one two three four five", "--fail", "drop_after_tokens:2")


async def _collect(stream: openai.AsyncStream[ChatCompletionChunk], into: list[str]) -> None:
    async for chunk in stream:
        into.append(chunk.choices[0].delta.content or "")


@pytest.fixture(scope="module")
def hanging_url() -> Iterator[str]:
    yield from _start("--fail", "hang")


def _client(base_url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=10)


class TestModels:
    async def test_lists_the_mock_model(self, echo_url):
        async with _client(echo_url) as client:
            models = await client.models.list()
        assert [m.id for m in models.data] == ["parley-mock"]


class TestStreaming:
    async def test_sdk_streams_the_echo_with_usage(self, echo_url):
        async with _client(echo_url) as client:
            stream = await client.chat.completions.create(
                model="any-model",
                messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}],
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [chunk async for chunk in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == QUESTION
        assert chunks[0].choices[0].delta.role == "assistant"
        assert {c.object for c in chunks} == {"chat.completion.chunk"}
        assert {c.model for c in chunks} == {"any-model"}
        assert len({c.id for c in chunks}) == 1
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert finishes == ["stop"]
        usage_chunks = [c for c in chunks if c.usage is not None]
        assert len(usage_chunks) == 1
        assert usage_chunks[0] is chunks[-1]
        assert usage_chunks[0].choices == []
        assert usage_chunks[0].usage.completion_tokens == len(QUESTION.split())
        assert usage_chunks[0].usage.total_tokens == (
            usage_chunks[0].usage.prompt_tokens + usage_chunks[0].usage.completion_tokens
        )

    async def test_wire_format_is_server_sent_events_ending_in_done(self, echo_url):
        body = {"model": "m", "messages": [{"role": "user", "content": 'a "quoted"\nline é'}], "stream": True}
        async with httpx.AsyncClient() as http:
            response = await http.post(f"{echo_url}/chat/completions", json=body)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = response.text.split("\n\n")
        assert events[-2:] == ["data: [DONE]", ""]
        payloads = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
        assert "".join(p["choices"][0]["delta"].get("content", "") for p in payloads) == 'a "quoted"\nline é'
        # Without include_usage there is no usage chunk and no usage key.
        assert all(p["choices"] and "usage" not in p for p in payloads)

    async def test_max_tokens_cuts_the_answer_with_finish_reason_length(self, echo_url):
        async with _client(echo_url) as client:
            stream = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": QUESTION}], stream=True, max_tokens=2
            )
            chunks = [chunk async for chunk in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello there,"
        assert chunks[-1].choices[0].finish_reason == "length"


class TestWholeAnswer:
    async def test_non_streaming_completion(self, echo_url):
        async with _client(echo_url) as client:
            completion = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": [{"type": "text", "text": QUESTION}]}]
            )
        assert completion.object == "chat.completion"
        assert completion.choices[0].message.role == "assistant"
        assert completion.choices[0].message.content == QUESTION
        assert completion.choices[0].finish_reason == "stop"
        assert completion.usage is not None
        assert completion.usage.completion_tokens == len(QUESTION.split())


class TestFailures:
    async def test_status_failure_is_an_openai_error_object(self, failing_url):
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{failing_url}/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True},
            )
        assert response.status_code == 500
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "server_error"
        assert "500" in error["message"]

    async def test_sdk_raises_its_status_error(self, failing_url):
        async with _client(failing_url) as client:
            with pytest.raises(openai.InternalServerError) as raised:
                await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert raised.value.status_code == 500

    async def test_drop_breaks_the_stream_after_the_tokens(self, dropping_url):
        received: list[str] = []
        async with _client(dropping_url) as client:
            stream = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            with pytest.raises(openai.APIConnectionError):
                await _collect(stream, received)
        assert "".join(received) == "one two"

    async def test_hang_never_answers_and_a_client_that_gives_up_leaves_it_serving(self, hanging_url):
        async with openai.AsyncOpenAI(base_url=hanging_url, api_key="unused", max_retries=0, timeout=0.5) as client:
            with pytest.raises(openai.APITimeoutError):
                await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
            assert [m.id for m in (await client.models.list()).data] == ["parley-mock"]

    async def test_bad_requests_are_400_with_the_error_object(self, echo_url):
        async with httpx.AsyncClient() as http:
            broken = await http.post(f"{echo_url}/chat/completions", content=b"{not json")
            no_messages = await http.post(f"{echo_url}/chat/completions", json={"model": "m", "messages": []})
            unknown = await http.get(f"{echo_url}/nothing-here")
        assert broken.status_code == 400
        assert broken.json()["error"]["type"] == "invalid_request_error"
        assert no_messages.status_code == 400
        assert no_messages.json()["error"]["param"] == "messages"
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "not_found"


class TestAsParleysUpstream:
    """Parley's own OpenAI-compatible provider, pointed at the mock: the path the benchmarks measure."""

    async def test_provider_streams_the_answer_and_the_usage(self, echo_url, tmp_path: Path):
        model = OpenAICompatibleModel(
            ModelConfig(name="mocked", provider="openai", base_url=echo_url), data_dir=tmp_path
        )
        try:
            events = [e async for e in model.stream(ChatRequest([ChatMessage("user", QUESTION)]))]
        finally:
            await model.aclose()
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == QUESTION
        finish = events[-1]
        assert isinstance(finish, Finish)
        assert finish.reason == "stop"
        assert finish.usage is not None
        assert finish.usage.completion_tokens == len(QUESTION.split())

    async def test_provider_reports_the_status_failure_as_retryable(self, failing_url, tmp_path: Path):
        model = OpenAICompatibleModel(
            ModelConfig(name="mocked", provider="openai", base_url=failing_url), data_dir=tmp_path
        )
        try:
            with pytest.raises(ProviderError) as raised:
                async for _ in model.stream(ChatRequest([ChatMessage("user", "hi")])):
                    pass
        finally:
            await model.aclose()
        assert raised.value.status == 500
        assert raised.value.retryable
