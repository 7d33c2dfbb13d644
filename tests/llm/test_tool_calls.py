"""Function calling through each provider's wire format (issue 15): the tools, tool choice and tool history a
`ChatRequest` carries as each API wants them, and streamed calls back as `ToolCallDelta`s and a `tool_calls`
finish. Against the same fake upstreams as the provider tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from parley.llm.base import (
    ChatMessage,
    ChatRequest,
    Finish,
    GenerationParams,
    ProviderError,
    ResponseFormat,
    Tool,
    ToolCall,
    ToolCallAssembler,
    ToolCallDelta,
    Usage,
)
from parley.llm.providers.anthropic import AnthropicModel
from parley.llm.providers.bedrock import BedrockModel
from parley.llm.providers.openai_compat import OpenAICompatibleModel
from tests.llm import test_anthropic_provider as anthropic_wire
from tests.llm import test_bedrock_provider as bedrock_wire
from tests.llm import test_openai_provider as openai_wire
from tests.llm.fake_upstream import FakeUpstream, collect, sse

# The Bedrock tests' credentials (an autouse fixture: static keys from the environment, nothing else).
_aws_credentials = bedrock_wire._aws_credentials

DATA_DIR = Path("unused")
WEATHER = Tool(
    "get_weather",
    "The weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CALL = ToolCall("call_1", "get_weather", '{"city": "Paris"}')
# A whole round: the question, the assistant's call, the tool's result.
HISTORY = (
    ChatMessage("system", "Use tools."),
    ChatMessage("user", "Weather in Paris?"),
    ChatMessage("assistant", "", tool_calls=(CALL,)),
    ChatMessage("tool", "18 degrees, sunny", tool_call_id="call_1"),
)


def calls_of(events: list[Any]) -> tuple[ToolCall, ...]:
    assembler = ToolCallAssembler()
    for event in events:
        if isinstance(event, ToolCallDelta):
            assembler.add(event)
    return assembler.calls()


def openai_tool_chunk(index: int, *, id: str | None = None, name: str | None = None, arguments: str = "") -> bytes:
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if id is not None:
        call.update(id=id, type="function")
        call["function"]["name"] = name
    payload = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-test",
        "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}],
    }
    return sse(json.dumps(payload))


class TestOpenAICompatible:
    async def test_tools_and_history_pass_through_and_streamed_calls_come_back(self, upstream: FakeUpstream) -> None:
        upstream.handler = openai_wire.streaming(
            [
                openai_wire.chunk(role="assistant", content=""),
                openai_tool_chunk(0, id="call_a", name="get_weather"),
                openai_tool_chunk(0, arguments='{"city": '),
                openai_tool_chunk(0, arguments='"Rome"}'),
                openai_tool_chunk(1, id="call_b", name="get_weather", arguments='{"city": "Oslo"}'),
                openai_wire.chunk(finish_reason="tool_calls"),
                openai_wire.chunk(usage=(30, 12), choices=False),
                sse("[DONE]"),
            ]
        )
        model = OpenAICompatibleModel(openai_wire.model_config(upstream), data_dir=DATA_DIR)
        request = ChatRequest(
            HISTORY,
            GenerationParams(
                seed=7,
                presence_penalty=0.5,
                frequency_penalty=-0.5,
                logit_bias={"50256": -100},
                response_format=ResponseFormat("json_schema", "answer", {"type": "object"}, strict=True),
            ),
            tools=(WEATHER,),
            tool_choice="get_weather",
            parallel_tool_calls=False,
        )
        try:
            events = await collect(model, request)
        finally:
            await model.aclose()

        assert events[-1] == Finish("tool_calls", Usage(30, 12))
        assert calls_of(events) == (
            ToolCall("call_a", "get_weather", '{"city": "Rome"}'),
            ToolCall("call_b", "get_weather", '{"city": "Oslo"}'),
        )
        body = upstream.requests[0].json()
        assert body["messages"][2] == {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        }
        assert body["messages"][3] == {"role": "tool", "content": "18 degrees, sunny", "tool_call_id": "call_1"}
        assert body["tools"] == [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "The weather in a city",
                    "parameters": WEATHER.parameters,
                },
            }
        ]
        assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
        assert body["parallel_tool_calls"] is False
        assert (body["seed"], body["presence_penalty"], body["frequency_penalty"]) == (7, 0.5, -0.5)
        assert body["logit_bias"] == {"50256": -100}
        assert body["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
        }


class TestAnthropic:
    async def test_tool_use_and_tool_result_blocks_and_streamed_tool_use(self, upstream: FakeUpstream) -> None:
        event = anthropic_wire.event
        upstream.handler = anthropic_wire.streaming(
            [
                anthropic_wire.message_start(),
                event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
                anthropic_wire.text_delta("Checking."),
                event("content_block_stop", {"index": 0}),
                event(
                    "content_block_start",
                    {
                        "index": 1,
                        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
                    },
                ),
                event(
                    "content_block_delta", {"index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"ci'}}
                ),
                event(
                    "content_block_delta",
                    {"index": 1, "delta": {"type": "input_json_delta", "partial_json": 'ty": "Rome"}'}},
                ),
                event("content_block_stop", {"index": 1}),
                event("message_delta", {"delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
                event("message_stop", {}),
            ]
        )
        model = AnthropicModel(anthropic_wire.model_config(upstream), data_dir=DATA_DIR)
        request = ChatRequest(HISTORY, tools=(WEATHER,), tool_choice="required", parallel_tool_calls=False)
        try:
            events = await collect(model, request)
        finally:
            await model.aclose()

        assert events[-1] == Finish("tool_calls", Usage(25, 9))
        assert calls_of(events) == (ToolCall("toolu_1", "get_weather", '{"city": "Rome"}'),)
        body = upstream.requests[0].json()
        assert body["system"] == "Use tools."
        assert body["messages"][1:] == [
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "18 degrees, sunny"}],
            },
        ]
        assert body["tools"] == [
            {"name": "get_weather", "description": "The weather in a city", "input_schema": WEATHER.parameters}
        ]
        assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}

    async def test_arguments_that_are_not_an_object_are_a_bad_request(self, upstream: FakeUpstream) -> None:
        model = AnthropicModel(anthropic_wire.model_config(upstream), data_dir=DATA_DIR)
        broken = ChatMessage("assistant", "", tool_calls=(ToolCall("call_1", "get_weather", "not json"),))
        try:
            with pytest.raises(ProviderError) as raised:
                await collect(model, ChatRequest((HISTORY[1], broken, HISTORY[3]), tools=(WEATHER,)))
        finally:
            await model.aclose()
        assert raised.value.status == 400 and not raised.value.retryable
        assert not upstream.requests


class TestBedrock:
    async def test_tool_config_tool_blocks_and_streamed_tool_use(self, upstream: FakeUpstream) -> None:
        event = bedrock_wire.event
        upstream.handler = bedrock_wire.streaming(
            [
                event("messageStart", {"role": "assistant"}),
                event(
                    "contentBlockStart",
                    {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather"}}},
                ),
                event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '{"city":'}}}),
                event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": ' "Rome"}'}}}),
                event("contentBlockStop", {"contentBlockIndex": 0}),
                event("messageStop", {"stopReason": "tool_use"}),
                event(
                    "metadata",
                    {"usage": {"inputTokens": 40, "outputTokens": 8, "totalTokens": 48}, "metrics": {"latencyMs": 9}},
                ),
            ]
        )
        model = BedrockModel(bedrock_wire.model_config(upstream), data_dir=DATA_DIR)
        request = ChatRequest(HISTORY, tools=(WEATHER,), tool_choice="get_weather")
        try:
            events = await collect(model, request)
        finally:
            await model.aclose()

        assert events[-1] == Finish("tool_calls", Usage(40, 8))
        assert calls_of(events) == (ToolCall("tooluse_1", "get_weather", '{"city": "Rome"}'),)
        body = upstream.requests[0].json()
        assert body["messages"][1:] == [
            {
                "role": "assistant",
                "content": [{"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}}],
            },
            {
                "role": "user",
                "content": [{"toolResult": {"toolUseId": "call_1", "content": [{"text": "18 degrees, sunny"}]}}],
            },
        ]
        assert body["toolConfig"] == {
            "tools": [
                {
                    "toolSpec": {
                        "name": "get_weather",
                        "description": "The weather in a city",
                        "inputSchema": {"json": WEATHER.parameters},
                    }
                }
            ],
            "toolChoice": {"tool": {"name": "get_weather"}},
        }
