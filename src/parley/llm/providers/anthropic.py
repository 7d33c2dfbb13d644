"""Claude through Anthropic's Messages API (or a gateway that speaks it, via `base_url`).

The official SDK does the HTTP and SSE work; this module reshapes the chat (system prompt apart, strictly
alternating turns) and maps the stream's events. SDK retries are off: the router retries.

The Messages API takes no sampling parameters (the SDK has no `temperature` or `top_p`, and the API rejects
unknown fields), so a request's temperature and top_p are not sent; max_tokens and stop sequences are.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import anthropic
import httpx2
from anthropic.types import MessageParam

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
from parley.llm.providers.turns import Conversation, split_conversation
from parley.llm.tokenizers import count_chat_tokens_async

# A gateway in front of Claude may need no key, but the SDK refuses to send a request without one.
_NO_API_KEY = "not-needed"
_STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "stop",
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
        try:
            upstream = await self._client.messages.create(
                model=self._upstream_model,
                max_tokens=params.max_tokens or self.config.max_output_tokens,
                messages=_message_params(conversation),
                system=conversation.system if conversation.system is not None else anthropic.omit,
                stop_sequences=list(params.stop) if params.stop else anthropic.omit,
                stream=True,
            )
        except anthropic.APIError as exc:
            raise self._provider_error(exc) from exc

        prompt_tokens: int | None = None
        completion_tokens = 0
        stop_reason: str | None = None
        stopped = False
        try:
            # `async with` closes the HTTP response however this generator ends, including when the consumer
            # is cancelled or stops iterating: Claude then stops generating (and billing).
            async with upstream:
                async for event in upstream:
                    if event.type == "content_block_delta":
                        if event.delta.type == "text_delta":
                            yield TextDelta(event.delta.text)
                    elif event.type == "message_start":
                        usage = event.message.usage
                        prompt_tokens = _prompt_tokens(
                            usage.input_tokens, usage.cache_creation_input_tokens, usage.cache_read_input_tokens
                        )
                        completion_tokens = usage.output_tokens
                    elif event.type == "message_delta":
                        stop_reason = event.delta.stop_reason or stop_reason
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
        yield Finish(_STOP_REASONS.get(stop_reason, "stop"), usage_total)

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


def _message_params(conversation: Conversation) -> list[MessageParam]:
    params: list[MessageParam] = []
    for index, turn in enumerate(conversation.turns):
        if turn.role == "user":
            params.append({"role": "user", "content": turn.text})
        elif index == len(conversation.turns) - 1:
            # A final assistant turn is a prefill the answer continues; the API rejects one that ends in white
            # space.
            params.append({"role": "assistant", "content": turn.text.rstrip()})
        else:
            params.append({"role": "assistant", "content": turn.text})
    return params
