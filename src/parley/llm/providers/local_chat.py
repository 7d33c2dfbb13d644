"""The bundled model's requests with tools: through llama.cpp's own OpenAI-compatible `/v1/chat/completions`,
which renders the tools with the GGUF's chat template (its Jinja template: the child starts the server with
`use_jinja`), parses the model's tool-call syntax (Qwen's `<tool_call>` blocks) into OpenAI `tool_calls`,
forces a call with a grammar when `tool_choice` requires one, and streams the calls as OpenAI deltas.

Plain answers keep Parley's own ChatML rendering on `/completion` (`local.py`): there message text is tokenized
with special-token parsing off, so a message cannot forge a turn. llama.cpp's chat endpoint tokenizes the rendered
prompt with special tokens parsed, so on a request with tools a message containing `<|im_start|>` is read as a
turn marker (README, "Function calling and structured output").
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from parley.llm.base import ChatEvent, ChatRequest, Finish, FinishReason, ProviderError, TextDelta, ToolCallDelta, Usage
from parley.llm.providers.openai_compat import openai_message, openai_options

_FINISH_REASONS: dict[str, FinishReason] = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}


async def stream_with_tools(
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
    finish: FinishReason | None = None
    usage: Usage | None = None
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
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
                        yield TextDelta(delta["content"])
                    for call in delta.get("tool_calls") or ():
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
    yield Finish(finish, usage)
