"""Several choices (`n`) and token log probabilities (`logprobs` / `top_logprobs`) on /v1/chat/completions
(issue 15), with the official OpenAI Python SDK over real HTTP. The scripted model writes deterministic log
probabilities (a token's is minus a tenth of its length; alternatives `<token>#k`, each 1 less likely); an
OpenAI-compatible upstream, served here, shows what is passed through and what comes back."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from parley.config import Settings
from parley.llm.local_model import ensure_model_file
from parley.models import UsageLog
from tests.conftest import running_app, serve
from tests.factories import openai_sdk

# The upstream's port is filled in once it listens.
MODELS_YAML = """
default: echo
models:
  - name: echo
    provider: scripted
    reply: echo
    capabilities: {{logprobs: true}}
  - name: plain
    provider: scripted
    reply: echo
  - name: broken
    provider: scripted
    fail: "status:503"
    max_retries: 0
  - name: upstream
    provider: openai
    model: gpt-test
    base_url: {upstream}/v1
    trusted: true
  - name: converse
    provider: bedrock
    model: anthropic.claude-test
    region: us-east-1
    endpoint_url: http://127.0.0.1:9
"""
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}
QUESTION = [{"role": "user", "content": "Paris is lovely"}]


class Upstream:
    """An OpenAI-compatible server that streams "Hi there" with log probabilities when asked, remembering
    each request body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])

    async def chat(self, request: Request) -> StreamingResponse:
        body = await request.json()
        self.bodies.append(body)

        def chunk(choice: dict[str, Any], usage: dict[str, int] | None = None) -> str:
            payload = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-test"}
            return "data: " + json.dumps({**payload, "choices": [choice] if choice else [], "usage": usage}) + "\n\n"

        def entry(token: str, logprob: float) -> dict[str, Any]:
            top = [{"token": token, "logprob": logprob, "bytes": None}, {"token": "Yo", "logprob": -3.0, "bytes": None}]
            return {"token": token, "logprob": logprob, "bytes": None, "top_logprobs": top}

        async def events() -> AsyncIterator[str]:
            for token, logprob in (("Hi", -0.25), (" there", -0.5)):
                logprobs = {"content": [entry(token, logprob)]} if body.get("logprobs") else None
                yield chunk({"index": 0, "delta": {"content": token}, "logprobs": logprobs, "finish_reason": None})
            yield chunk({"index": 0, "delta": {}, "finish_reason": "stop"})
            yield chunk({}, {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7})
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    server = Upstream()
    async with serve(server.app) as url:  # type: ignore[arg-type]
        yield server, url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def n_app(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory, upstream: tuple[Upstream, str]
) -> AsyncIterator[FastAPI]:
    models_file = tmp_path_factory.mktemp("n-models") / "models.yaml"
    models_file.write_text(MODELS_YAML.format(upstream=upstream[1]))
    async with running_app(settings.model_copy(update={"models_file": models_file})) as application:
        yield application


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def n_url(n_app: FastAPI) -> AsyncIterator[str]:
    async with serve(n_app) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def n_client(n_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=n_app), base_url="http://testserver") as http:
        yield http


async def _sdk(client, app, live_url, **key_body):
    me, _, sdk = await openai_sdk(app, client, live_url, **key_body)
    return me, sdk


class TestSeveralChoices:
    async def test_three_choices_each_counted(self, n_client, n_app, n_url, session):
        me, sdk = await _sdk(n_client, n_app, n_url)
        one = await sdk.chat.completions.create(model="echo", messages=QUESTION)
        three = await sdk.chat.completions.create(model="echo", messages=QUESTION, n=3)
        assert [c.index for c in three.choices] == [0, 1, 2]
        assert all(c.message.content == "Paris is lovely" and c.finish_reason == "stop" for c in three.choices)
        # Three generations: the prompt was sent three times, and each choice wrote its tokens.
        assert three.usage.prompt_tokens == 3 * one.usage.prompt_tokens
        assert three.usage.completion_tokens == 3 * one.usage.completion_tokens
        rows = (await session.scalars(select(UsageLog).where(UsageLog.user_id == me.id))).all()
        assert len(rows) == 4 and sum(row.completion_tokens for row in rows) == 4 * one.usage.completion_tokens

    async def test_streamed_choices_carry_their_index(self, n_client, n_app, n_url):
        _, sdk = await _sdk(n_client, n_app, n_url)
        stream = await sdk.chat.completions.create(
            model="echo", messages=QUESTION, n=2, stream=True, stream_options={"include_usage": True}
        )
        texts: dict[int, str] = {0: "", 1: ""}
        finishes: dict[int, str] = {}
        usage = None
        async for chunk in stream:
            for choice in chunk.choices:
                texts[choice.index] += choice.delta.content or ""
                if choice.finish_reason:
                    finishes[choice.index] = choice.finish_reason
            if chunk.usage is not None:
                usage = chunk.usage
        assert texts == {0: "Paris is lovely", 1: "Paris is lovely"}
        assert finishes == {0: "stop", 1: "stop"}
        assert usage is not None and usage.completion_tokens == 6

    @pytest.mark.parametrize("stream", [False, True])
    async def test_choices_that_cannot_start_fail_with_an_error_status(self, n_client, n_app, n_url, session, stream):
        me, sdk = await _sdk(n_client, n_app, n_url)
        with pytest.raises(openai.APIStatusError) as raised:
            await sdk.chat.completions.create(model="broken", messages=QUESTION, n=3, stream=stream)
        # As for one choice, before anything is streamed: a 502 the SDKs retry (503 once the model's circuit opens
        # after the repeated failures).
        assert raised.value.status_code in (502, 503)
        # Refused before a token: nothing is charged for any choice.
        rows = (await session.scalars(select(UsageLog).where(UsageLog.user_id == me.id))).all()
        assert all(row.prompt_tokens == row.completion_tokens == 0 for row in rows)

    async def test_more_than_eight_choices_is_a_400_naming_n(self, n_client, n_app, n_url):
        _, sdk = await _sdk(n_client, n_app, n_url)
        with pytest.raises(openai.BadRequestError) as raised:
            await sdk.chat.completions.create(model="echo", messages=QUESTION, n=9)
        assert raised.value.body["param"] == "n"


class TestLogprobs:
    async def test_whole_answer_with_top_logprobs(self, n_client, n_app, n_url):
        _, sdk = await _sdk(n_client, n_app, n_url)
        answer = await sdk.chat.completions.create(model="echo", messages=QUESTION, logprobs=True, top_logprobs=2)
        content = answer.choices[0].logprobs.content
        assert [t.token for t in content] == ["Paris", " is", " lovely"]
        assert [t.logprob for t in content] == [-0.5, -0.2, -0.6]
        assert content[1].bytes == list(b" is")
        assert [(t.token, t.logprob) for t in content[2].top_logprobs] == [(" lovely", -0.6), (" lovely#1", -1.6)]

    async def test_streamed_tokens_with_logprobs_and_several_choices(self, n_client, n_app, n_url):
        _, sdk = await _sdk(n_client, n_app, n_url)
        stream = await sdk.chat.completions.create(model="echo", messages=QUESTION, logprobs=True, n=2, stream=True)
        tokens: dict[int, list[tuple[str, float]]] = {0: [], 1: []}
        async for chunk in stream:
            for choice in chunk.choices:
                if choice.logprobs is not None:
                    tokens[choice.index] += [(t.token, t.logprob) for t in choice.logprobs.content]
        assert tokens[0] == tokens[1] == [("Paris", -0.5), (" is", -0.2), (" lovely", -0.6)]

    async def test_without_logprobs_none_are_returned(self, n_client, n_app, n_url):
        _, sdk = await _sdk(n_client, n_app, n_url)
        answer = await sdk.chat.completions.create(model="echo", messages=QUESTION)
        assert answer.choices[0].logprobs is None

    async def test_a_model_without_logprobs_is_a_400_naming_it(self, n_client, n_app, n_url):
        _, sdk = await _sdk(n_client, n_app, n_url)
        with pytest.raises(openai.BadRequestError) as raised:
            await sdk.chat.completions.create(model="plain", messages=QUESTION, logprobs=True)
        assert raised.value.body["param"] == "logprobs"
        listed = await sdk.models.retrieve("plain")
        assert listed.capabilities["logprobs"] is False

    async def test_top_logprobs_alone_is_a_400(self, n_client, n_app, n_url):
        _, sdk = await _sdk(n_client, n_app, n_url)
        with pytest.raises(openai.BadRequestError) as raised:
            await sdk.chat.completions.create(model="echo", messages=QUESTION, top_logprobs=2)
        assert raised.value.body["param"] == "top_logprobs"


class TestOpenAICompatibleUpstream:
    async def test_logprobs_passed_through_and_returned(self, n_client, n_app, n_url, upstream):
        server, _ = upstream
        _, sdk = await _sdk(n_client, n_app, n_url)
        answer = await sdk.chat.completions.create(
            model="upstream", messages=QUESTION, logprobs=True, top_logprobs=2, seed=7, user="u-1"
        )
        sent = server.bodies[-1]
        assert sent["logprobs"] is True and sent["top_logprobs"] == 2 and sent["seed"] == 7
        # `user` is deliberately not forwarded: Parley knows the caller from the key (schemas' docstring).
        assert "user" not in sent
        assert answer.choices[0].message.content == "Hi there"
        content = answer.choices[0].logprobs.content
        assert [(t.token, t.logprob) for t in content] == [("Hi", -0.25), (" there", -0.5)]
        assert [t.token for t in content[0].top_logprobs] == ["Hi", "Yo"]

    async def test_several_choices_are_separate_upstream_calls(self, n_client, n_app, n_url, upstream):
        server, _ = upstream
        _, sdk = await _sdk(n_client, n_app, n_url)
        before = len(server.bodies)
        answer = await sdk.chat.completions.create(model="upstream", messages=QUESTION, n=2)
        assert len(server.bodies) - before == 2 and all("n" not in body for body in server.bodies[before:])
        assert [c.message.content for c in answer.choices] == ["Hi there", "Hi there"]
        assert answer.usage.prompt_tokens == 10 and answer.usage.completion_tokens == 4


class TestOptionsAProviderLacks:
    @pytest.mark.parametrize(
        ("extra", "param"),
        [
            ({"tools": [WEATHER], "parallel_tool_calls": False}, "parallel_tool_calls"),
            ({"frequency_penalty": 0.5}, "frequency_penalty"),
            ({"logprobs": True}, "logprobs"),
        ],
    )
    async def test_bedrock_refuses_by_name(self, n_client, n_app, n_url, extra, param):
        _, sdk = await _sdk(n_client, n_app, n_url)
        with pytest.raises(openai.BadRequestError) as raised:
            await sdk.chat.completions.create(model="converse", messages=QUESTION, **extra)
        assert raised.value.body["param"] == param

    async def test_parallel_tool_calls_off_is_honoured_where_it_can_be(self, n_client, n_app, n_url):
        _, sdk = await _sdk(n_client, n_app, n_url)
        second = {**WEATHER, "function": {**WEATHER["function"], "name": "get_time"}}
        both = await sdk.chat.completions.create(
            model="echo", messages=QUESTION, tools=[WEATHER, second], tool_choice="required"
        )
        one = await sdk.chat.completions.create(
            model="echo", messages=QUESTION, tools=[WEATHER, second], tool_choice="required", parallel_tool_calls=False
        )
        assert len(both.choices[0].message.tool_calls) == 2 and len(one.choices[0].message.tool_calls) == 1


LOCAL_YAML = """
default: local
models:
  - name: local
    provider: local
    parallel: 2
    context_window: 2048
    max_output_tokens: 64
    capabilities: {logprobs: true}
"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def local_app(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    """An app serving the bundled model (in llama.cpp's server) with its log probabilities."""
    data_dir = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        data_dir = data_dir.parent
    data_dir = data_dir / "local-model-data"
    ensure_model_file(data_dir)
    models_file = tmp_path_factory.mktemp("local-models") / "models.yaml"
    models_file.write_text(LOCAL_YAML)
    async with running_app(settings.model_copy(update={"models_file": models_file, "data_dir": data_dir})) as app:
        yield app


class TestBundledModelLogprobs:
    async def test_the_bundled_model_returns_its_token_logprobs(self, local_app):
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=local_app), base_url="http://testserver") as http,
            serve(local_app) as url,
        ):
            _, sdk = await _sdk(http, local_app, url)
            answer = await sdk.chat.completions.create(
                model="local",
                messages=[{"role": "user", "content": "Count from 1 to 5."}],
                logprobs=True,
                top_logprobs=3,
                max_tokens=8,
                timeout=120,
            )
        choice = answer.choices[0]
        content = choice.logprobs.content
        # One entry per generated token, spelling the answer, each with its 3 likeliest alternatives.
        assert "".join(t.token for t in content) == choice.message.content
        assert len(content) == answer.usage.completion_tokens
        assert all(t.logprob <= 0 and len(t.top_logprobs) == 3 for t in content)
        assert all(t.top_logprobs[0].logprob >= t.logprob for t in content)


class TestBundledModelToolsAndStructuredOutput:
    """Issue 15 on the bundled model, for real, through the official SDK: a required call is forced by a grammar
    and comes back as a call, a response format as JSON matching its schema, one after the other (two grammars in
    a row once crashed the llama.cpp server), and a plain answer after them."""

    async def test_a_required_call_then_a_schema_then_plain_text(self, local_app):
        weather_described = "Get the current weather in a city"
        city = {
            "type": "object",
            "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
            "required": ["city", "population"],
        }
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=local_app), base_url="http://testserver") as http,
            serve(local_app) as url,
        ):
            _, sdk = await _sdk(http, local_app, url)
            called = await sdk.chat.completions.create(
                model="local",
                messages=[{"role": "user", "content": "What is the weather in Paris? Use the tool."}],
                tools=[{"type": "function", "function": {**WEATHER["function"], "description": weather_described}}],
                tool_choice="required",
                temperature=0,
                max_tokens=60,
                timeout=120,
            )
            structured = await sdk.chat.completions.create(
                model="local",
                messages=[{"role": "user", "content": "Give me a city and its population."}],
                response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": city}},
                temperature=0,
                max_tokens=60,
                timeout=120,
            )
            plain = await sdk.chat.completions.create(
                model="local", messages=[{"role": "user", "content": "Say hi."}], max_tokens=10, timeout=120
            )
        choice = called.choices[0]
        assert choice.finish_reason == "tool_calls" and not choice.message.content
        [call] = choice.message.tool_calls
        assert call.function.name == "get_weather" and call.id.startswith("call_")
        assert json.loads(call.function.arguments)["city"] == "Paris"
        answer = json.loads(structured.choices[0].message.content)
        assert isinstance(answer["city"], str) and isinstance(answer["population"], int)
        assert plain.choices[0].message.content.strip() and not plain.choices[0].message.tool_calls
