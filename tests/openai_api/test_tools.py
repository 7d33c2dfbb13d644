"""Function calling, structured output and model capabilities on /v1 (issue 15), with the official OpenAI Python
SDK over real HTTP, against scripted models: the scripted model calls the tools it is offered with arguments
valid for their schemas, answers a tool's result with that result, and answers a `response_format` with JSON."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import openai
import pytest
import pytest_asyncio
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import select

from parley.config import Settings
from parley.models import UsageLog
from tests.conftest import running_app, serve
from tests.factories import openai_sdk

MODELS_YAML = """
default: echo
models:
  - name: echo
    provider: scripted
    reply: echo
  - name: show-prompt
    provider: scripted
    reply: prompt
  - name: text-only
    provider: scripted
    reply: "plain text"
    capabilities: {tools: false, json_schema: false}
  - name: flaky
    provider: scripted
    fail: "status:500"
    max_retries: 0
    fallbacks: [text-only, echo]
  - name: private-echo
    provider: scripted
    reply: echo
    pii_policy: pseudonymise
  - name: claude
    provider: anthropic
    model: claude-test
    base_url: http://127.0.0.1:9
"""
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
# A 1x1 PNG.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
TIME = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}},
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def tool_app(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    """An app whose catalogue has models with and without tools (the suite's own has only default ones)."""
    models_file = tmp_path_factory.mktemp("tool-models") / "models.yaml"
    models_file.write_text(MODELS_YAML)
    async with running_app(settings.model_copy(update={"models_file": models_file})) as application:
        yield application


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def tool_url(tool_app: FastAPI) -> AsyncIterator[str]:
    async with serve(tool_app) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def tool_client(tool_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=tool_app), base_url="http://testserver") as http:
        yield http


async def _sdk(client, app, live_url, **key_body):
    me, _, sdk = await openai_sdk(app, client, live_url, **key_body)
    return me, sdk


class TestToolCalls:
    async def test_a_whole_tool_round_with_usage_recorded(self, tool_client, tool_app, tool_url, session):
        me, sdk = await _sdk(tool_client, tool_app, tool_url)
        question = [{"role": "user", "content": "Weather in Paris?"}]
        first = await sdk.chat.completions.create(model="echo", messages=question, tools=[WEATHER])
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content is None
        [call] = choice.message.tool_calls
        assert call.type == "function" and call.function.name == "get_weather" and call.id
        assert json.loads(call.function.arguments) == {"city": "city 1"}
        assert first.usage.completion_tokens > 0

        # The result goes back as a tool message: the model answers with it (not a flattened user turn).
        second = await sdk.chat.completions.create(
            model="echo",
            messages=[
                *question,
                choice.message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"},
            ],
            tools=[WEATHER],
        )
        assert second.choices[0].finish_reason == "stop"
        assert second.choices[0].message.content == "18 degrees and sunny"
        rows = (await session.scalars(select(UsageLog).where(UsageLog.user_id == me.id))).all()
        assert len(rows) == 2 and all(row.model == "echo" and row.completion_tokens > 0 for row in rows)

    async def test_the_model_sees_tool_calls_and_results_as_such(self, tool_client, tool_app, tool_url):
        _, sdk = await _sdk(tool_client, tool_app, tool_url)
        answer = await sdk.chat.completions.create(
            model="show-prompt",
            messages=[
                {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "call_9", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "call_9", "content": "noon"},
            ],
            tools=[TIME],
        )
        shown = answer.choices[0].message.content
        # Text parts joined with a line break; the call and the result reach the model with their ids.
        assert shown == "user: first\nsecond\n\nassistant: \n[call call_9 get_time({})]\n\ntool (call_9): noon"

    async def test_streamed_tool_calls_in_openais_chunk_format(self, tool_client, tool_app, tool_url):
        _, sdk = await _sdk(tool_client, tool_app, tool_url)
        stream = await sdk.chat.completions.create(
            model="echo",
            messages=[{"role": "user", "content": "time and weather"}],
            tools=[WEATHER, TIME],
            tool_choice="required",
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or ()]
        starts = [d for d in deltas if d.id]
        assert [(d.index, d.function.name, d.type) for d in starts] == [
            (0, "get_weather", "function"),
            (1, "get_time", "function"),
        ]
        # The arguments come in several pieces after each call's first delta.
        assert len(deltas) > 4
        arguments = {index: "".join(d.function.arguments or "" for d in deltas if d.index == index) for index in (0, 1)}
        assert json.loads(arguments[0]) == {"city": "city 1"} and json.loads(arguments[1]) == {"zone": "zone 1"}
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert finishes == ["tool_calls"]
        assert chunks[-1].usage.completion_tokens > 0

    async def test_the_sdk_stream_helper_assembles_the_calls(self, tool_client, tool_app, tool_url):
        _, sdk = await _sdk(tool_client, tool_app, tool_url)
        async with sdk.chat.completions.stream(
            model="echo",
            messages=[{"role": "user", "content": "weather"}],
            tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
        ) as stream:
            final = await stream.get_final_completion()
        [call] = final.choices[0].message.tool_calls
        assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "city 1"}

    async def test_tool_choice_none_answers_in_text(self, tool_client, tool_app, tool_url):
        _, sdk = await _sdk(tool_client, tool_app, tool_url)
        answer = await sdk.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "no tools"}], tools=[WEATHER], tool_choice="none"
        )
        assert answer.choices[0].message.content == "no tools" and not answer.choices[0].message.tool_calls


class TestPersonalData:
    """Under `pseudonymise` the model sees placeholders, and the arguments it writes get the values back: the
    scripted model writes its parameter's default, here the placeholder the caller's address was given."""

    MAIL = {
        "type": "function",
        "function": {
            "name": "send_mail",
            "parameters": {"type": "object", "properties": {"to": {"type": "string", "default": "<EMAIL_1>"}}},
        },
    }

    async def test_call_arguments_are_restored_whole_and_streamed(self, tool_client, tool_app, tool_url):
        _, sdk = await _sdk(tool_client, tool_app, tool_url)
        messages = [{"role": "user", "content": "Write to ann.example@example.com please"}]
        whole = await sdk.chat.completions.create(model="private-echo", messages=messages, tools=[self.MAIL])
        [call] = whole.choices[0].message.tool_calls
        assert json.loads(call.function.arguments) == {"to": "ann.example@example.com"}

        stream = await sdk.chat.completions.create(
            model="private-echo", messages=messages, tools=[self.MAIL], stream=True
        )
        pieces = [
            tc.function.arguments or ""
            async for chunk in stream
            if chunk.choices
            for tc in chunk.choices[0].delta.tool_calls or ()
            if tc.function is not None
        ]
        assert json.loads("".join(pieces)) == {"to": "ann.example@example.com"}


class Weather(BaseModel):
    city: str
    degrees: int
    sunny: bool


class TestStructuredOutput:
    async def test_parse_with_a_pydantic_model(self, tool_client, tool_app, tool_url):
        _, sdk = await _sdk(tool_client, tool_app, tool_url)
        completion = await sdk.chat.completions.parse(
            model="echo", messages=[{"role": "user", "content": "weather"}], response_format=Weather
        )
        assert completion.choices[0].message.parsed == Weather(city="city 1", degrees=1, sunny=True)

    async def test_json_object(self, tool_client, tool_app, tool_url):
        _, sdk = await _sdk(tool_client, tool_app, tool_url)
        completion = await sdk.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "hi"}], response_format={"type": "json_object"}
        )
        assert json.loads(completion.choices[0].message.content) == {"answer": "hi"}


class TestCapabilities:
    async def test_a_model_without_tools_is_a_400_naming_the_capability(self, tool_client, tool_app, tool_url):
        _, sdk = await _sdk(tool_client, tool_app, tool_url)
        with pytest.raises(openai.BadRequestError) as raised:
            await sdk.chat.completions.create(
                model="text-only", messages=[{"role": "user", "content": "hi"}], tools=[WEATHER]
            )
        error = raised.value.body
        assert error["param"] == "tools" and "does not support tools" in error["message"]
        with pytest.raises(openai.BadRequestError) as raised:
            await sdk.chat.completions.parse(
                model="text-only", messages=[{"role": "user", "content": "hi"}], response_format=Weather
            )
        assert raised.value.body["param"] == "response_format"

    async def test_fallback_skips_models_without_the_capability(self, tool_client, tool_app, tool_url):
        _, sdk = await _sdk(tool_client, tool_app, tool_url)
        answer = await sdk.chat.completions.create(
            model="flaky", messages=[{"role": "user", "content": "weather"}], tools=[WEATHER]
        )
        # flaky fails; text-only cannot do tools; echo answers with the call.
        assert answer.model == "echo" and answer.choices[0].finish_reason == "tool_calls"
        plain = await sdk.chat.completions.create(model="flaky", messages=[{"role": "user", "content": "hi"}])
        assert plain.model == "text-only" and plain.choices[0].message.content == "plain text"

    async def test_auto_routes_only_to_capable_models(self, tool_client, tool_app, tool_url):
        _, sdk = await _sdk(tool_client, tool_app, tool_url)
        answer = await sdk.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "weather"}], tools=[WEATHER]
        )
        assert answer.choices[0].finish_reason == "tool_calls" and answer.model != "text-only"

    async def test_parameters_the_provider_lacks_are_refused_by_name(self, tool_client, tool_app, tool_url):
        _, sdk = await _sdk(tool_client, tool_app, tool_url)
        with pytest.raises(openai.BadRequestError) as raised:
            await sdk.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}], seed=3)
        assert raised.value.body["param"] == "seed"

    @pytest.mark.parametrize(
        ("extra", "param"),
        [
            ({"n": 9}, "n"),
            ({"logprobs": True}, "logprobs"),
            ({"functions": [{"name": "f", "parameters": {}}]}, "functions"),
            ({"tool_choice": {"type": "function", "function": {"name": "nope"}}, "tools": [WEATHER]}, "tool_choice"),
        ],
    )
    async def test_what_parley_cannot_honour_is_a_400_naming_it(self, tool_client, tool_app, tool_url, extra, param):
        _, sdk = await _sdk(tool_client, tool_app, tool_url)
        with pytest.raises(openai.BadRequestError) as raised:
            await sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}], **extra)
        assert raised.value.body["param"] == param

    async def test_image_parts_are_refused_not_dropped(self, tool_client, tool_app, tool_url):
        # `echo` lacks vision (README, "Images"): the image is refused, naming the messages, never ignored.
        _, sdk = await _sdk(tool_client, tool_app, tool_url)
        with pytest.raises(openai.BadRequestError) as raised:
            await sdk.chat.completions.create(
                model="echo",
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "what is this?"},
                            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                        ],
                    }
                ],
            )
        assert raised.value.body["param"] == "messages"
        assert "does not support vision" in raised.value.body["message"]

    async def test_ignored_parameters_are_accepted(self, tool_client, tool_app, tool_url):
        _, sdk = await _sdk(tool_client, tool_app, tool_url)
        answer = await sdk.chat.completions.create(
            model="echo",
            messages=[{"role": "user", "content": "hi"}],
            user="u-1",
            metadata={"k": "v"},
            store=False,
            n=1,
        )
        assert answer.choices[0].message.content == "hi"


class TestModels:
    async def test_the_list_and_one_model_carry_capabilities(self, tool_client, tool_app, tool_url):
        _, sdk = await _sdk(tool_client, tool_app, tool_url)
        listed = {model.id: model async for model in sdk.models.list()}
        assert listed["echo"].capabilities == {"tools": True, "json_schema": True, "vision": False, "logprobs": False}
        assert listed["text-only"].capabilities["tools"] is False
        assert listed["claude"].owned_by == "anthropic" and listed["claude"].created > 1_700_000_000
        one = await sdk.models.retrieve("echo")
        assert one.id == "echo" and one.context_window == 8192 and one.max_output_tokens == 1024
        assert one.capabilities == listed["echo"].capabilities

    async def test_unknown_model_and_unknown_route(self, tool_client, tool_app, tool_url):
        _, sdk = await _sdk(tool_client, tool_app, tool_url)
        with pytest.raises(openai.NotFoundError) as raised:
            await sdk.models.retrieve("no-such-model")
        assert raised.value.body["code"] == "model_not_found"
        async with httpx.AsyncClient(base_url=tool_url) as http:
            missing = await http.get("/v1/no/such/route", headers={"Authorization": f"Bearer {sdk.api_key}"})
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "unknown_url"
