"""Models on AWS Bedrock through the Converse API (ConverseStream), which gives every Bedrock model family
one request and event shape.

Credentials come from the normal AWS chain (environment, profile, instance or task role), never from
Parley's model file. botocore's retries are off: the router retries.

Tools map to Converse's `toolConfig` (`toolSpec` with the JSON Schema as `inputSchema.json`; `toolChoice`
`auto`, `any` for `required`, `tool` for a named one; `none` sends no tools, as Converse has no such choice);
an assistant's calls are `toolUse` blocks and a tool's result a `toolResult` block in the next user turn.
Streamed `toolUse` blocks become `ToolCallDelta`s and `stopReason: tool_use` the `tool_calls` finish.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError, ReadTimeoutError

from parley.llm.base import (
    ChatEvent,
    ChatMessage,
    ChatRequest,
    Finish,
    FinishReason,
    ProviderError,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from parley.llm.config import ModelConfig
from parley.llm.providers.anthropic import tool_input
from parley.llm.providers.turns import Turn, split_conversation
from parley.llm.tokenizers import count_chat_tokens_async

if TYPE_CHECKING:  # type stubs only (a dev dependency): nothing of them is needed at run time
    from types_aiobotocore_bedrock_runtime import BedrockRuntimeClient
    from types_aiobotocore_bedrock_runtime.type_defs import (
        ConverseStreamRequestTypeDef,
        InferenceConfigurationTypeDef,
        MessageTypeDef,
    )

_STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
# Error codes (from the HTTP error or an exception event inside the stream) that another try can fix.
_RETRYABLE_CODES = {
    "throttlingexception",
    "serviceunavailableexception",
    "internalserverexception",
    "modelstreamerrorexception",
    "modeltimeoutexception",
    "modelnotreadyexception",
}
_MAX_ERROR_TEXT = 300


class BedrockModel:
    """One Bedrock model (`config.model` is the model or inference-profile id), streamed with ConverseStream
    and mapped to Parley's events.

    The botocore client is created once and kept: creating one reads the service's model files (a tenth of a
    second of blocking file I/O), too slow to repeat per request. `start()` creates it at startup so the
    first request does not pay for it.
    """

    def __init__(self, config: ModelConfig, *, data_dir: Path) -> None:
        self.config = config
        self._upstream_model = config.model or config.name
        self._session = aioboto3.Session()
        self._client: BedrockRuntimeClient | None = None
        self._client_lock = asyncio.Lock()
        self._exit_stack = contextlib.AsyncExitStack()

    async def start(self) -> None:
        await self._get_client()

    async def _get_client(self) -> BedrockRuntimeClient:
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    aio_config = AioConfig(
                        connect_timeout=self.config.timeout_seconds,
                        read_timeout=self.config.timeout_seconds,
                        retries={"total_max_attempts": 1, "mode": "standard"},
                        # Each streaming answer holds a connection; botocore's default pool holds 10.
                        max_pool_connections=self.config.max_connections,
                    )
                    self._client = await self._exit_stack.enter_async_context(
                        self._session.client(
                            "bedrock-runtime",
                            region_name=self.config.region,
                            endpoint_url=self.config.endpoint_url,
                            config=aio_config,
                        )
                    )
        return self._client

    def _converse_request(self, request: ChatRequest) -> ConverseStreamRequestTypeDef:
        conversation = split_conversation(request.messages)
        params = request.params
        inference: InferenceConfigurationTypeDef = {
            "maxTokens": params.max_tokens or self.config.max_output_tokens,
        }
        if params.temperature is not None:
            inference["temperature"] = params.temperature
        if params.top_p is not None:
            inference["topP"] = params.top_p
        if params.stop:
            inference["stopSequences"] = list(params.stop)
        messages: list[MessageTypeDef] = [{"role": turn.role, "content": _blocks(turn)} for turn in conversation.turns]
        converse: ConverseStreamRequestTypeDef = {
            "modelId": self._upstream_model,
            "messages": messages,
            "inferenceConfig": inference,
        }
        if conversation.system is not None:
            converse["system"] = [{"text": conversation.system}]
        tool_config = _tool_config(request)
        if tool_config is not None:
            converse["toolConfig"] = tool_config
        return converse

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        converse = self._converse_request(request)
        try:
            client = await self._get_client()
            response = await client.converse_stream(**converse)
        except (TimeoutError, BotoCoreError, ClientError, aiohttp.ClientError) as exc:
            raise self._provider_error(exc) from exc

        events = response["stream"]
        stop_reason: str | None = None
        usage: Usage | None = None
        # Content block index → the tool call's index among this answer's calls.
        calls: dict[int, int] = {}
        try:
            async for event in events:
                if "contentBlockDelta" in event:
                    block = event["contentBlockDelta"]
                    text = block["delta"].get("text")
                    if text:
                        yield TextDelta(text)
                    tool_use = block["delta"].get("toolUse")
                    if tool_use is not None and block["contentBlockIndex"] in calls:
                        yield ToolCallDelta(calls[block["contentBlockIndex"]], arguments=tool_use.get("input", ""))
                elif "contentBlockStart" in event:
                    started = event["contentBlockStart"]
                    tool_start = started.get("start", {}).get("toolUse")
                    if tool_start is not None:
                        index = calls[started["contentBlockIndex"]] = len(calls)
                        yield ToolCallDelta(index, id=tool_start["toolUseId"], name=tool_start["name"])
                elif "messageStop" in event:
                    stop_reason = event["messageStop"]["stopReason"]
                elif "metadata" in event:
                    # metadata follows messageStop; it is the stream's last event.
                    tokens = event["metadata"]["usage"]
                    prompt = (
                        tokens["inputTokens"]
                        + tokens.get("cacheReadInputTokens", 0)
                        + tokens.get("cacheWriteInputTokens", 0)
                    )
                    usage = Usage(prompt, tokens["outputTokens"])
        except (TimeoutError, BotoCoreError, ClientError, aiohttp.ClientError) as exc:
            if stop_reason is None:
                raise self._provider_error(exc) from exc
            # Only the usage report was lost after messageStop: the answer is whole.
        finally:
            # Closes the HTTP response however this generator ends, including when the consumer is cancelled
            # or stops iterating: Bedrock then stops generating (and billing).
            events.close()
        if stop_reason is None:
            raise ProviderError(f"model {self.config.name}: the stream ended before messageStop", retryable=True)
        yield Finish(_STOP_REASONS.get(stop_reason, "stop"), usage)

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        # Bedrock's CountTokens covers few models and costs a round trip; the local estimate serves all.
        return await count_chat_tokens_async(messages)

    async def aclose(self) -> None:
        self._client = None
        await self._exit_stack.aclose()

    def _provider_error(self, exc: Exception) -> ProviderError:
        name = self.config.name
        if isinstance(exc, ClientError):
            # Also covers EventStreamError, an exception event inside a 200 stream (its status reads 200).
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            message = str(error.get("Message", "")) or code or "error"
            raw_status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            status = raw_status if isinstance(raw_status, int) and raw_status >= 400 else None
            retryable = code.lower() in _RETRYABLE_CODES or (
                status is not None and (status in (408, 409, 429) or status >= 500)
            )
            label = f"HTTP {status} {code}" if status is not None else code
            return ProviderError(
                f"model {name}: {label}: {message[:_MAX_ERROR_TEXT]}", status=status, retryable=retryable
            )
        if isinstance(exc, ReadTimeoutError | asyncio.TimeoutError):
            return ProviderError(f"model {name}: timed out", retryable=True)
        if isinstance(exc, ConnectionError | HTTPClientError | aiohttp.ClientError):
            return ProviderError(f"model {name}: connection failed or was dropped", retryable=True)
        # Configuration problems (no credentials, no region, invalid parameters): no retry fixes them.
        return ProviderError(f"model {name}: {type(exc).__name__}: {str(exc)[:_MAX_ERROR_TEXT]}", retryable=False)


def _blocks(turn: Turn) -> list[Any]:
    """A turn's content blocks: tool results first, then the text, then tool calls."""
    blocks: list[Any] = [
        {"toolResult": {"toolUseId": result.tool_call_id, "content": [{"text": result.content}]}}
        for result in turn.tool_results
    ]
    # Converse names the format without the `image/` prefix (png, jpeg, gif, webp) and takes the raw bytes.
    blocks.extend(
        {"image": {"format": image.media_type.removeprefix("image/"), "source": {"bytes": image.data}}}
        for image in turn.images
    )
    if turn.text or (not blocks and not turn.tool_calls):
        blocks.append({"text": turn.text})
    blocks.extend(
        {"toolUse": {"toolUseId": call.id, "name": call.name, "input": tool_input(call)}} for call in turn.tool_calls
    )
    return blocks


def _tool_config(request: ChatRequest) -> Any:
    """`toolConfig`, or None when no tools are offered or `tool_choice` is `none`. Converse has no `none`
    choice and requires `toolConfig` whenever the conversation holds tool calls or results: there `none` is
    sent as `auto` (README, "Function calling and structured output")."""
    if not request.tools:
        return None
    has_tool_turns = any(m.tool_calls or m.role == "tool" for m in request.messages)
    if request.tool_choice == "none" and not has_tool_turns:
        return None
    config: dict[str, Any] = {
        "tools": [
            {
                "toolSpec": {
                    "name": tool.name,
                    **({"description": tool.description} if tool.description else {}),
                    "inputSchema": {"json": dict(tool.parameters)},
                }
            }
            for tool in request.tools
        ]
    }
    match request.tool_choice:
        case None | "auto" | "none":
            config["toolChoice"] = {"auto": {}}
        case "required":
            config["toolChoice"] = {"any": {}}
        case name:
            config["toolChoice"] = {"tool": {"name": name}}
    return config
