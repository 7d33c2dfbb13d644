"""The bundled model's requests with tools: through llama.cpp's own OpenAI-compatible `/v1/chat/completions`,
which renders the tools with the GGUF's chat template (its Jinja template: the child starts the server with
`use_jinja`) and, for models whose tool-call syntax it recognises, streams the calls as OpenAI deltas.

The bundled Qwen2.5 Coder 0.5B is not one of them with the llama.cpp build Parley ships: it writes its call as a
bare JSON object (`{"name": ..., "arguments": {...}}`, sometimes inside `<tool_call>` tags or a ```json fence)
and llama.cpp passes that on as text, and does not force a call for `tool_choice: required`. So Parley does both
itself: a required or named call is forced with a JSON schema (llama.cpp turns it into a grammar) admitting only
`{"name": <an offered tool>, "arguments": <its parameters>}`, and when tools are offered the answer is held
until it ends (no text streams meanwhile) and read as a call when it is one. An answer that is not a call is
then sent as one text piece.

Plain answers keep Parley's own ChatML rendering on `/completion` (`local.py`): there message text is tokenized
with special-token parsing off, so a message cannot forge a turn. llama.cpp's chat endpoint tokenizes the rendered
prompt with special tokens parsed, so on a request with tools a message containing `<|im_start|>` is read as a
turn marker (README, "Function calling and structured output").
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from parley.llm.base import (
    ChatEvent,
    ChatRequest,
    Finish,
    FinishReason,
    ProviderError,
    TextDelta,
    Tool,
    ToolCallDelta,
    Usage,
)
from parley.llm.providers.openai_compat import chunk_logprobs, openai_message, openai_options

_FINISH_REASONS: dict[str, FinishReason] = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}


async def stream_chat(
    client: httpx.AsyncClient,
    request: ChatRequest,
    *,
    name: str,
    max_output_tokens: int,
    status_error: Callable[[httpx.Response], ProviderError],
) -> AsyncIterator[ChatEvent]:
    """`request` answered by llama.cpp's chat endpoint, as Parley's events."""
    body: dict[str, Any] = {
        "messages": [openai_message(m) for m in request.messages],
        "stream": True,
        "stream_options": {"include_usage": True},
        **openai_options(request, max_output_tokens=max_output_tokens),
    }
    forced = _forced_tools(request)
    if forced:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "tool_call", "schema": _call_schema(forced)},
        }
    # Offered tools: the text is held until the end, when it may turn out to be a call.
    held: list[str] | None = [] if request.tools and request.tool_choice != "none" else None
    called = False
    finish: FinishReason | None = None
    usage: Usage | None = None
    # A fresh connection, closed after the answer: the server could close a kept-alive one after a streamed chat
    # answer, and the next request on it failed ("Server disconnected without sending a response").
    headers = {"Connection": "close"}
    async with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
        if response.status_code >= 400:
            await response.aread()
            raise status_error(response)
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            try:
                chunk = json.loads(line[6:])
                if "error" in chunk:
                    error = chunk["error"]
                    raise ProviderError(f"local model {name}: {error.get('message', error)}", retryable=True)
                if chunk.get("usage"):
                    reported = chunk["usage"]
                    usage = Usage(int(reported["prompt_tokens"]), int(reported["completion_tokens"]))
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        if held is None:
                            logprobs = chunk_logprobs(choice.get("logprobs")) if request.params.logprobs else ()
                            yield TextDelta(delta["content"], logprobs)
                        else:
                            held.append(delta["content"])
                    for call in delta.get("tool_calls") or ():
                        called = True
                        function = call.get("function") or {}
                        yield ToolCallDelta(
                            int(call.get("index", 0)),
                            arguments=function.get("arguments") or "",
                            id=call.get("id"),
                            name=function.get("name"),
                        )
                    if choice.get("finish_reason"):
                        finish = _FINISH_REASONS.get(choice["finish_reason"], "stop")
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise ProviderError(f"local model {name}: unreadable event {line[:200]!r}", retryable=True) from exc
    if finish is None:
        raise ProviderError(f"local model {name}: the stream ended without a finish reason", retryable=True)
    if held:
        text = "".join(held)
        call = None if called else read_call(text, request.tools)
        if call is None:
            yield TextDelta(text)
        else:
            yield ToolCallDelta(0, arguments=call[1], id=f"call_{uuid.uuid4().hex[:24]}", name=call[0])
            finish = "tool_calls"
    yield Finish(finish, usage)


_WRAPPING = re.compile(r"^\s*(?:<tool_call>|```(?:json)?)?\s*(.*?)\s*(?:</tool_call>|```)?\s*$", re.DOTALL)


def read_call(text: str, tools: tuple[Tool, ...]) -> tuple[str, str] | None:
    """(name, arguments as JSON text) when `text` is a call of one of `tools` as Qwen-style models write it: a
    JSON object with `name` and `arguments`, bare, in `<tool_call>` tags or in a ```json fence."""
    match = _WRAPPING.match(text)
    try:
        value = json.loads(match.group(1) if match else text)
    except ValueError:
        return None
    if not isinstance(value, dict) or value.get("name") not in {tool.name for tool in tools}:
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    if not isinstance(arguments, dict):
        return None
    return str(value["name"]), json.dumps(arguments)


def _forced_tools(request: ChatRequest) -> list[Tool]:
    """The tools one of which the answer must call: all for `required`, the named one for a name."""
    choice = request.tool_choice
    if choice in (None, "auto", "none"):
        return []
    if choice == "required":
        return list(request.tools)
    return [tool for tool in request.tools if tool.name == choice]


def _call_schema(tools: list[Tool]) -> dict[str, Any]:
    options = [
        {
            "type": "object",
            "properties": {"name": {"const": tool.name}, "arguments": dict(tool.parameters)},
            "required": ["name", "arguments"],
        }
        for tool in tools
    ]
    return options[0] if len(options) == 1 else {"anyOf": options}
