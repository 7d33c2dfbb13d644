"""Claude through Anthropic's Messages API (or a gateway that speaks it, via `base_url`).

The official SDK does the HTTP and SSE work; this module reshapes the chat (system prompt apart, strictly
alternating turns) and maps the stream's events. SDK retries are off: the router retries.

The Messages API takes no sampling parameters (the SDK has no `temperature` or `top_p`, and the API rejects
unknown fields), so a request's temperature and top_p are not sent; max_tokens and stop sequences are.

Tools map to Anthropic's: each tool's JSON Schema is its `input_schema`, an assistant's calls are `tool_use`
blocks, a tool's result a `tool_result` block in the next user turn; `tool_choice` `required` is `any`, a named
tool `{"type": "tool"}`, and `parallel_tool_calls: false` sets `disable_parallel_tool_use`. Streamed `tool_use`
blocks (`input_json_delta`) become `ToolCallDelta`s and `stop_reason: tool_use` the `tool_calls` finish.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, cast

import anthropic
import httpx2
from anthropic.types import MessageParam, ToolChoiceParam, ToolParam

from parley.llm.base import (
    ChatEvent,
    ChatMessage,
    ChatRequest,
    Finish,
    FinishReason,
    ProviderError,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from parley.llm.config import ModelConfig
from parley.llm.providers.turns import Conversation, Turn, split_conversation
from parley.llm.tokenizers import count_chat_tokens_async

# A gateway in front of Claude may need no key, but the SDK refuses to send a request without one.
_NO_API_KEY = "not-needed"
_STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}
# The HTTP status each error type comes with; an error event inside a stream carries only the type.
_ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_COUNT_TIMEOUT_SECONDS = 5.0
_MAX_ERROR_TEXT = 300


class AnthropicModel:
    """One Claude model, streamed and mapped to Parley's events.

    `config.model` is the Anthropic model id (falling back to the alias). `count_tokens` asks the API's
    free counting endpoint, whose answer is exact for Claude's tokenizer, and falls back to the local
    estimate when the endpoint is unreachable or absent (gateways often lack it).
    """

    def __init__(self, config: ModelConfig, *, data_dir: Path) -> None:
        self.config = config
        self._upstream_model = config.model or config.name
        self._api_key = config.api_key.get_secret_value() if config.api_key is not None else None
        self._client = anthropic.AsyncAnthropic(
            api_key=self._api_key or _NO_API_KEY,
            base_url=config.base_url,
            max_retries=0,
            timeout=config.timeout_seconds,
            # Each streaming answer holds a connection; the SDK's default pool stops at 1,000.
            http_client=anthropic.DefaultAsyncHttpxClient(
                limits=httpx2.Limits(
                    max_connections=config.max_connections, max_keepalive_connections=100, keepalive_expiry=5.0
                )
            ),
        )
        self._count_endpoint_available = True

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        conversation = split_conversation(request.messages)
        params = request.params
        tools, tool_choice = _tool_params(request)
        try:
            upstream = await self._client.messages.create(
                model=self._upstream_model,
                max_tokens=params.max_tokens or self.config.max_output_tokens,
                messages=_message_params(conversation),
                system=conversation.system if conversation.system is not None else anthropic.omit,
                stop_sequences=list(params.stop) if params.stop else anthropic.omit,
                tools=tools if tools else anthropic.omit,
                tool_choice=tool_choice if tool_choice is not None else anthropic.omit,
                stream=True,
            )
        except anthropic.APIError as exc:
            raise self._provider_error(exc) from exc

        prompt_tokens: int | None = None
        completion_tokens = 0
        stop_reason: str | None = None
        stop_sequence: str | None = None
        stopped = False
        # Content block index → the tool call's index among this answer's calls.
        calls: dict[int, int] = {}
        try:
            # `async with` closes the HTTP response however this generator ends, including when the consumer
            # is cancelled or stops iterating: Claude then stops generating (and billing).
            async with upstream:
                async for event in upstream:
                    if event.type == "content_block_delta":
                        if event.delta.type == "text_delta":
                            yield TextDelta(event.delta.text)
                        elif event.delta.type == "input_json_delta" and event.index in calls:
                            yield ToolCallDelta(calls[event.index], arguments=event.delta.partial_json)
                    elif event.type == "content_block_start":
                        block = event.content_block
                        if block.type == "tool_use":
                            calls[event.index] = len(calls)
                            yield ToolCallDelta(calls[event.index], id=block.id, name=block.name)
                    elif event.type == "message_start":
                        usage = event.message.usage
                        prompt_tokens = _prompt_tokens(
                            usage.input_tokens, usage.cache_creation_input_tokens, usage.cache_read_input_tokens
                        )
                        completion_tokens = usage.output_tokens
                    elif event.type == "message_delta":
                        stop_reason = event.delta.stop_reason or stop_reason
                        stop_sequence = event.delta.stop_sequence or stop_sequence
                        # Cumulative counts: the last message_delta holds the totals.
                        completion_tokens = event.usage.output_tokens
                        if event.usage.input_tokens is not None:
                            prompt_tokens = _prompt_tokens(
                                event.usage.input_tokens,
                                event.usage.cache_creation_input_tokens,
                                event.usage.cache_read_input_tokens,
                            )
                    elif event.type == "message_stop":
                        stopped = True
        except anthropic.APIError as exc:
            raise self._provider_error(exc) from exc
        except httpx2.TimeoutException as exc:
            # Unlike the OpenAI SDK, this one lets transport errors inside a stream through unwrapped.
            raise ProviderError(f"model {self.config.name}: timed out mid-stream", retryable=True) from exc
        except httpx2.TransportError as exc:
            raise ProviderError(f"model {self.config.name}: the connection dropped mid-stream", retryable=True) from exc
        except json.JSONDecodeError as exc:
            raise ProviderError(
                f"model {self.config.name}: the server sent a malformed stream event", retryable=True
            ) from exc
        if not stopped or stop_reason is None:
            raise ProviderError(f"model {self.config.name}: the stream ended before message_stop", retryable=True)
        usage_total = None if prompt_tokens is None else Usage(prompt_tokens, completion_tokens)
        matched = stop_sequence if stop_reason == "stop_sequence" else None
        yield Finish(_STOP_REASONS.get(stop_reason, "stop"), usage_total, matched)

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        if self._count_endpoint_available:
            try:
                conversation = split_conversation(messages)
                counted = await self._client.messages.count_tokens(
                    model=self._upstream_model,
                    messages=_message_params(conversation),
                    system=conversation.system if conversation.system is not None else anthropic.omit,
                    timeout=min(_COUNT_TIMEOUT_SECONDS, self.config.timeout_seconds),
                )
                return counted.input_tokens
            except anthropic.APIStatusError as exc:
                # A gateway without the endpoint will not grow one: stop asking.
                if exc.status_code in (404, 405, 501):
                    self._count_endpoint_available = False
            except (anthropic.APIConnectionError, ProviderError):
                pass  # unreachable or no user turn yet: the local estimate still answers
        return await count_chat_tokens_async(messages)

    async def aclose(self) -> None:
        await self._client.close()

    def _provider_error(self, exc: anthropic.APIError) -> ProviderError:
        name = self.config.name
        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            if status < 400:
                # An `event: error` inside a 200 stream: its error type says what went wrong.
                status = _ERROR_TYPE_STATUS.get(_error_type(exc.body) or "", 500)
            return ProviderError(
                f"model {name}: HTTP {status}: {self._describe(exc)}",
                status=status,
                retryable=status in (408, 409, 429) or status >= 500,
            )
        if isinstance(exc, anthropic.APITimeoutError):
            return ProviderError(f"model {name}: timed out", retryable=True)
        if isinstance(exc, anthropic.APIConnectionError):
            return ProviderError(f"model {name}: connection failed or was dropped", retryable=True)
        return ProviderError(f"model {name}: {self._describe(exc)}", retryable=True)

    def _describe(self, exc: anthropic.APIError) -> str:
        """The server's own error message, short, with the API key masked should a gateway echo it."""
        text = exc.message
        body = exc.body
        if isinstance(body, dict):
            error = body.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            if isinstance(message, str) and message:
                text = message
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text[:_MAX_ERROR_TEXT]


def _prompt_tokens(uncached: int, cache_writes: int | None, cache_reads: int | None) -> int:
    # Every prompt token counts against the context window, whether or not it came from the cache.
    return uncached + (cache_writes or 0) + (cache_reads or 0)


def _error_type(body: object) -> str | None:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("type"), str):
            return str(error["type"])
    return None


def _tool_params(request: ChatRequest) -> tuple[list[ToolParam], ToolChoiceParam | None]:
    """`tools` and `tool_choice` in the Messages API's form."""
    tools: list[Any] = [
        {
            "name": tool.name,
            **({"description": tool.description} if tool.description else {}),
            "input_schema": dict(tool.parameters),
        }
        for tool in request.tools
    ]
    choice: dict[str, Any] | None = None
    match request.tool_choice:
        case None:
            pass
        case "auto":
            choice = {"type": "auto"}
        case "none":
            choice = {"type": "none"}
        case "required":
            choice = {"type": "any"}
        case name:
            choice = {"type": "tool", "name": name}
    if request.parallel_tool_calls is False and tools:
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    return cast(list[ToolParam], tools), cast(ToolChoiceParam | None, choice)


def tool_input(call: ToolCall) -> dict[str, Any]:
    """A call's arguments as the JSON object both Anthropic and Bedrock want: arguments that are not one are a
    request no model can take (400)."""
    try:
        value = json.loads(call.arguments) if call.arguments.strip() else {}
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ProviderError(f"the arguments of tool call {call.id} are not a JSON object", status=400, retryable=False)
    return value


def _blocks(turn: Turn) -> list[Any]:
    """A turn with tool calls or results as content blocks (results first, as the API wants them)."""
    blocks: list[Any] = [
        {"type": "tool_result", "tool_use_id": result.tool_call_id, "content": result.content}
        for result in turn.tool_results
    ]
    blocks.extend(
        {
            "type": "image",
            "source": {"type": "base64", "media_type": image.media_type, "data": base64.b64encode(image.data).decode()},
        }
        for image in turn.images
    )
    if turn.text:
        blocks.append({"type": "text", "text": turn.text})
    blocks.extend(
        {"type": "tool_use", "id": call.id, "name": call.name, "input": tool_input(call)} for call in turn.tool_calls
    )
    return blocks


def _message_params(conversation: Conversation) -> list[MessageParam]:
    params: list[MessageParam] = []
    for index, turn in enumerate(conversation.turns):
        if turn.tool_calls or turn.tool_results or turn.images:
            params.append(cast(MessageParam, {"role": turn.role, "content": _blocks(turn)}))
        elif turn.role == "user":
            params.append({"role": "user", "content": turn.text})
        elif index == len(conversation.turns) - 1:
            # A final assistant turn is a prefill the answer continues; the API rejects one that ends in white
            # space.
            params.append({"role": "assistant", "content": turn.text.rstrip()})
        else:
            params.append({"role": "assistant", "content": turn.text})
    return params
