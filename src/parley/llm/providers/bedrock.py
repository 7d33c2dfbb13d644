"""Models on AWS Bedrock through the Converse API (ConverseStream), which gives every Bedrock model family
one request and event shape.

Credentials come from the normal AWS chain (environment, profile, instance or task role), never from
Parley's model file. botocore's retries are off: the router retries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

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
    Usage,
)
from parley.llm.config import ModelConfig
from parley.llm.providers.turns import split_conversation
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
    "tool_use": "stop",
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
        messages: list[MessageTypeDef] = [
            {"role": turn.role, "content": [{"text": turn.text}]} for turn in conversation.turns
        ]
        converse: ConverseStreamRequestTypeDef = {
            "modelId": self._upstream_model,
            "messages": messages,
            "inferenceConfig": inference,
        }
        if conversation.system is not None:
            converse["system"] = [{"text": conversation.system}]
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
        try:
            async for event in events:
                if "contentBlockDelta" in event:
                    text = event["contentBlockDelta"]["delta"].get("text")
                    if text:
                        yield TextDelta(text)
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
